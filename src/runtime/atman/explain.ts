// AtMan over a loaded model: the unperturbed pass and one pass per unit, in
// batches, keeping only the target tokens' cross-entropies from each.
import { DEFAULT_MEMORY_BUDGET, aggregate, chooseBatchSize, passCount, relevanceMatrix } from '../../core';
import type { ImageUnit } from '../../core/image-units';
import type { Unit } from '../../core/types';
import { type AtmanModel, peakRss } from './atman-model';
import type { CoupledNumerics } from './coupled-numerics';
import { type PrepareRequest, changedFactors, plainTokens, prepare } from './prepare';
import { runPasses } from './pass-runner';
import { type ExplainProgress, type ExplainedUnit, type Explanation, SCHEMA_VERSION, SIGN_SENTENCE } from '../schema';

export interface ExplainRequest extends PrepareRequest {
  onProgress?: (p: ExplainProgress) => void;
  /** checked between batches; a cancelled run throws AtmanError CANCELLED */
  signal?: AbortSignal;
  /** bytes of logits and scores one batch may hold; picks the batch size */
  memoryBudgetBytes?: number;
  batchSize?: number;
  /** read back only the target log-probabilities (default true) */
  scoreHead?: boolean;
  /** start each pass at its first changed column, reusing the cached prefix (default true) */
  prefixReuse?: boolean;
  /** cost of one more batch in sequence rows, for grouping units by start (default: a quarter of the sequence) */
  overheadRows?: number;
  /**
   * models whose rows or batch items are coupled (8-bit dynamic quantization): 'exact' (default) runs
   * one pass at a time with full recomputation; 'dequantized' runs a faster variant and reports how far it moved the scores
   */
  coupledNumerics?: CoupledNumerics;
}

export async function explain(model: AtmanModel, req: ExplainRequest): Promise<Explanation> {
  const t0 = performance.now();
  const prepared = await prepare(model, req);
  const { settings, tokens, units, ids, targetIds, promptLen: P, factorsOf } = prepared;
  const S = ids.length;

  const total = passCount(units.length);
  const scoreHead = req.scoreHead ?? true;
  const batchSize = req.batchSize ?? batchSizeFor(model, S, scoreHead ? targetIds.length : S, req.memoryBudgetBytes);
  const job = { ids, targetIds, promptLen: P, unitCount: units.length, factorsOf, encoderLength: prepared.encoderLength, ...(prepared.context ? { context: prepared.context } : {}) };
  const { ce, report } = await runPasses(model, job, {
    batchSize,
    scoreHead,
    prefixReuse: req.prefixReuse ?? true,
    ...(req.coupledNumerics ? { coupledNumerics: req.coupledNumerics } : {}),
    ...(req.overheadRows !== undefined ? { overheadRows: req.overheadRows } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
    onBatch: (loaded, all) => req.onProgress?.({ stage: 'passes', loaded, total: all, elapsedSeconds: (performance.now() - t0) / 1000 }),
  });

  const rss = peakRss();
  if (rss !== undefined) report.peakRssBytes = rss;
  const R = relevanceMatrix(ce[0]!, ce.slice(1));
  const scores = aggregate(R, settings.postprocess);
  return {
    schemaVersion: SCHEMA_VERSION,
    sign: SIGN_SENTENCE,
    prompt: prepared.prompt,
    target: req.target,
    tokens: plainTokens(tokens),
    units: units.map((u, i) => ({
      label: u.label,
      positions: u.positions,
      score: scores[i]!,
      perTarget: Array.from(R[i]!),
      factors: changedFactors(factorsOf(i)),
      ...imageFields(u),
    })),
    ...(prepared.image ? { image: prepared.image } : {}),
    baseline: { crossEntropy: Array.from(ce[0]!) },
    settings,
    model: model.facts,
    passes: total,
    batchSize: report.rowCoupling?.handling === 'exact' ? 1 : batchSize,
    run: report,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Passes per batch for a sequence of S rows of which `logitRows` go through the LM head. */
export function batchSizeFor(model: AtmanModel, S: number, logitRows: number, budgetBytes = DEFAULT_MEMORY_BUDGET): number {
  const c = model.config;
  return chooseBatchSize({ vocab: c.vocabSize, seqLen: S, numHeads: c.numHeads, hiddenSize: c.hiddenSize, logitRows, budgetBytes });
}

function imageFields(u: Unit): Pick<ExplainedUnit, 'image' | 'region' | 'imageTokens' | 'regions'> {
  const info = (u as Partial<ImageUnit>).image;
  if (!info) return {};
  return { image: info.imageIndex, region: info.bounds, imageTokens: info.tokens, regions: info.regions };
}
