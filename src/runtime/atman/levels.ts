// One level of units through the passes: its own unperturbed pass, one pass per unit, and the
// scores. A plain run is one level; a drill-down runs several over the same prepared prompt.
import { aggregate, assertFinite, passCount, relevanceMatrix } from '../../core';
import type { ImageUnit } from '../../core/image-units';
import type { Unit } from '../../core/types';
import type { AtmanModel } from './atman-model';
import type { CoupledNumerics } from './coupled-numerics';
import { type Baseline, type RunReport, runPasses } from './pass-runner';
import { type Prepared, changedFactors } from './prepare';
import type { ExplainProgress, ExplainedUnit } from '../schema';

export interface LevelResult {
  /** the level's unperturbed pass: CE of each target token */
  ce0: Float64Array;
  /** R[u, t], paper sign */
  R: Float64Array[];
  /** per unit, after post-processing */
  scores: number[];
  /** passes run: one per unit, plus the unperturbed pass unless it was taken from an earlier level */
  passes: number;
  report: RunReport;
  /** the unperturbed pass, for a later level over the same sequence */
  baseline?: Baseline;
}

/**
 * Runs one level of units. Given the baseline of an earlier level over the same sequence, the
 * unperturbed pass is not run again: it depends on the sequence alone, not on the units.
 */
export type RunLevel = (units: Unit[], factorsOf: (u: number) => Float32Array, baseline?: Baseline) => Promise<LevelResult>;

interface LevelOptions {
  onProgress?: (p: ExplainProgress) => void;
  signal?: AbortSignal;
  prefixReuse?: boolean;
  overheadRows?: number;
  coupledNumerics?: CoupledNumerics;
}

/** Runs levels one after another; progress counts on across them. */
export function levelRunner(model: AtmanModel, prepared: Prepared, req: LevelOptions, opts: { batchSize: number; scoreHead: boolean; t0: number }): RunLevel {
  let before = 0;
  return async (units, factorsOf, baseline) => {
    const job = {
      ids: prepared.ids,
      targetIds: prepared.targetIds,
      promptLen: prepared.promptLen,
      unitCount: units.length,
      factorsOf,
      encoderLength: prepared.encoderLength,
      ...(prepared.context ? { context: prepared.context } : {}),
    };
    const { ce, report, baseline: ran, baselineReused } = await runPasses(model, job, {
      ...(baseline ? { baseline } : {}),
      batchSize: opts.batchSize,
      scoreHead: opts.scoreHead,
      prefixReuse: req.prefixReuse ?? true,
      ...(req.coupledNumerics ? { coupledNumerics: req.coupledNumerics } : {}),
      ...(req.overheadRows !== undefined ? { overheadRows: req.overheadRows } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      onBatch: (loaded, all) =>
        req.onProgress?.({ stage: 'passes', loaded: before + loaded, total: before + all, elapsedSeconds: (performance.now() - opts.t0) / 1000 }),
    });
    const passes = passCount(units.length) - (baselineReused ? 1 : 0);
    before += passes;
    assertFinite(ce, 'passes');
    const R = relevanceMatrix(ce[0]!, ce.slice(1));
    const scores = aggregate(R, prepared.settings.postprocess);
    // Finite cross-entropies can still overflow in the post-processing (square).
    assertFinite([...R, scores], 'units');
    return { ce0: ce[0]!, R, scores, passes, report, ...(ran ? { baseline: ran } : {}) };
  };
}

/** A unit with its scores from a level run (unit i of that run) and its column factors. */
export function explainedUnit(u: Unit, level: LevelResult, i: number, factors: Float32Array): ExplainedUnit {
  return {
    label: u.label,
    positions: u.positions,
    score: level.scores[i]!,
    perTarget: Array.from(level.R[i]!),
    factors: changedFactors(factors),
    ...imageFields(u),
  };
}

/** Several level runs as one report: work summed, notes and fallbacks kept once. */
export function mergeReports(reports: RunReport[]): RunReport {
  const [first, ...rest] = reports;
  const out: RunReport = { ...first!, notes: [...first!.notes] };
  for (const r of rest) {
    out.batches += r.batches;
    out.rowsComputed += r.rowsComputed;
    out.rowsFullRecompute += r.rowsFullRecompute;
    out.passesSkipped += r.passesSkipped;
    out.ioPeakBytes = Math.max(out.ioPeakBytes, r.ioPeakBytes);
    out.batchSize = Math.min(out.batchSize, r.batchSize);
    if (r.prefixReuse !== out.prefixReuse) out.prefixReuse = `${out.prefixReuse}; at a later level: ${r.prefixReuse}`;
    for (const n of r.notes) if (!out.notes.includes(n)) out.notes.push(n);
    if (r.rowCoupling && !out.rowCoupling) out.rowCoupling = r.rowCoupling;
  }
  return out;
}

/** What an explained unit says about its image tokens and regions (image units only). */
export function imageFields(u: Unit): Pick<ExplainedUnit, 'image' | 'region' | 'imageTokens' | 'regions'> {
  const info = (u as Partial<ImageUnit>).image;
  if (!info) return {};
  return { image: info.imageIndex, region: info.bounds, imageTokens: info.tokens, regions: info.regions };
}
