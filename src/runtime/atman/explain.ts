// AtMan over a loaded model: the unperturbed pass and one pass per unit, in
// batches, keeping only the target tokens' cross-entropies from each. A drill-down
// (drill-down.ts) and automatic units (auto-units.ts) run the same level runner.
import { checkRunNumbers } from '../../core';
import { memoryPlanFor } from './memory-plan';
import { type AtmanModel, peakRss } from './atman-model';
import type { CoupledNumerics } from './coupled-numerics';
import { type PrepareRequest, plainTokens, prepare } from './prepare';
import { chooseUnits } from './auto-units';
import { drillDown } from './drill-down';
import { explainedUnit, levelRunner } from './levels';
import { type ExplainProgress, type Explanation, SCHEMA_VERSION, SIGN_SENTENCE } from '../schema';

export interface ExplainRequest extends PrepareRequest {
  onProgress?: (p: ExplainProgress) => void;
  /** checked between batches; a cancelled run throws AtmanError CANCELLED */
  signal?: AbortSignal;
  /** bytes the passes may add to the loaded model (src/core/memory-budget.ts); picks the batch size */
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
  /**
   * Granularity 'auto': the finest unit level (token, word, sentence, paragraph) whose passes fit
   * this many seconds, estimated from one timed pass; replaces the settings' granularity.
   */
  autoUnits?: { budgetSeconds: number };
}

export async function explain(model: AtmanModel, req: ExplainRequest): Promise<Explanation> {
  const t0 = performance.now();
  checkRunNumbers(req);
  let prepared = await prepare(model, req);
  const S = prepared.ids.length;
  const scoreHead = req.scoreHead ?? true;
  const prefixReuse = req.prefixReuse ?? true;
  const memory = memoryPlanFor(model, S, scoreHead ? prepared.targetIds.length : S, {
    budgetBytes: req.memoryBudgetBytes,
    prefixReuse,
    encoderLength: prepared.encoderLength,
    batchSize: req.batchSize,
  }).report;
  const batchSize = memory.batchSize;
  const runLevel = levelRunner(model, prepared, req, { batchSize, scoreHead, t0 });

  const chosen = req.autoUnits ? await chooseUnits(prepared, req.autoUnits.budgetSeconds, runLevel) : null;
  if (chosen) prepared = chosen.prepared;
  const { settings } = prepared;

  const common = {
    schemaVersion: SCHEMA_VERSION,
    sign: SIGN_SENTENCE,
    prompt: prepared.prompt,
    target: req.target,
    tokens: plainTokens(prepared.tokens),
    ...(prepared.image ? { image: prepared.image } : {}),
    settings,
    model: model.facts,
  };
  if (settings.drillDown) {
    const d = await drillDown(prepared, settings.drillDown, runLevel);
    return {
      ...common,
      units: d.units,
      baseline: { crossEntropy: Array.from(d.baseline) },
      drillDown: d.report,
      passes: d.passes,
      batchSize: d.run.rowCoupling?.handling === 'exact' ? 1 : batchSize,
      run: withPeakRss({ ...d.run, memory }),
      seconds: (performance.now() - t0) / 1000,
    };
  }

  const level = await runLevel(prepared.units, prepared.factorsOf);
  if (chosen) level.report.notes.unshift(`automatic units: ${chosen.choice.reason} (one more pass, not counted above, measured the time)`);
  return {
    ...common,
    units: prepared.units.map((u, i) => explainedUnit(u, level, i, prepared.factorsOf(i))),
    baseline: { crossEntropy: Array.from(level.ce0) },
    ...(chosen ? { unitChoice: chosen.choice } : {}),
    passes: level.passes,
    batchSize: level.report.rowCoupling?.handling === 'exact' ? 1 : batchSize,
    run: withPeakRss({ ...level.report, memory }),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The process's peak resident memory at the end of the run, where the runtime says (Node). */
function withPeakRss<R extends { peakRssBytes?: number }>(run: R): R {
  const rss = peakRss();
  return rss === undefined ? run : { ...run, peakRssBytes: rss };
}

/** Passes per batch for a sequence of S rows of which `logitRows` go through the LM head. */
export function batchSizeFor(model: AtmanModel, S: number, logitRows: number, budgetBytes?: number, prefixReuse = true): number {
  return memoryPlanFor(model, S, logitRows, { budgetBytes, prefixReuse }).plan.batchSize;
}
