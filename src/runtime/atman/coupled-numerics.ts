// How passes run on a model whose rows or batch items are coupled (see coupling-check.ts), and
// the report that says so. Exact by default: one pass at a time, every row recomputed, the full
// logits read back, so nothing changes which rows share a tensor. Opt-in: the dequantized variant
// (MatMuls over the dequantized 8-bit weights), which batches again and says how far it moved the scores.

/** 'exact': one pass at a time with full recomputation; 'dequantized': the faster variant, measured against exact */
export type CoupledNumerics = 'exact' | 'dequantized';
export const COUPLED_NUMERICS: readonly CoupledNumerics[] = ['exact', 'dequantized'];

export interface ScoreDeviation {
  /** the unperturbed pass and this many unit passes were also run the exact way */
  passesCompared: number;
  /** largest |CE difference| of the unperturbed pass */
  baselineMaxAbsDiff: number;
  /** largest |R_variant - R_exact| over the compared units and target tokens */
  maxAbsScoreDiff: number;
  /** the explanation's largest |R| (all units) */
  maxAbsScore: number;
  /** maxAbsScoreDiff / maxAbsScore */
  relative: number;
}

export interface RowCouplingReport {
  /** why this model's rows or batch items are coupled, in words */
  reason: string;
  handling: CoupledNumerics;
  /** the dequantized variant only: measured distance from the exact computation */
  deviation?: ScoreDeviation;
}

export const EXACT_NOTE =
  "rows and batch items are coupled in this model (see rowCoupling): passes ran one pass at a time with full recomputation and full logits, so the scores are the model's own; the dequantized variant (coupledNumerics 'dequantized', --coupled-numerics dequantized) is faster but moves the scores";

export const dequantizedNote = (d: ScoreDeviation): string =>
  `ran the dequantized variant (8-bit weights, activations no longer quantized over the whole tensor): batched and exact for that variant; against the exact computation on the unperturbed pass and ${d.passesCompared - 1} unit passes it moved scores by up to ${d.maxAbsScoreDiff.toExponential(2)} (${(100 * d.relative).toFixed(2)}% of the largest score)`;

/** Unit passes to rerun exactly: the strongest unit and others evenly spread, at most `count`. */
export function deviationSample(ce: readonly Float64Array[], unitCount: number, count = 8): number[] {
  if (unitCount === 0) return [];
  const base = ce[0]!;
  const strength = (u: number) => ce[u + 1]!.reduce((a, c, t) => a + Math.abs(c - base[t]!), 0);
  let top = 0;
  for (let u = 1; u < unitCount; u++) if (strength(u) > strength(top)) top = u;
  const picked = new Set([top]);
  const n = Math.min(count, unitCount);
  for (let i = 0; picked.size < n && i < n; i++) picked.add(Math.round((i * (unitCount - 1)) / Math.max(1, n - 1)));
  for (let u = 0; picked.size < n; u++) picked.add(u);
  return [...picked].sort((a, b) => a - b);
}

/** Compares the variant's CE rows with exact ones: `exact[0]` is the unperturbed pass, `exact[1 + i]` unit `sample[i]`. */
export function measureDeviation(variant: readonly Float64Array[], exact: readonly Float64Array[], sample: readonly number[]): ScoreDeviation {
  const b0 = variant[0]!;
  const e0 = exact[0]!;
  let baselineMaxAbsDiff = 0;
  b0.forEach((c, t) => (baselineMaxAbsDiff = Math.max(baselineMaxAbsDiff, Math.abs(c - e0[t]!))));
  let maxAbsScoreDiff = 0;
  sample.forEach((u, i) => {
    const v = variant[u + 1]!;
    const e = exact[i + 1]!;
    v.forEach((c, t) => (maxAbsScoreDiff = Math.max(maxAbsScoreDiff, Math.abs(c - b0[t]! - (e[t]! - e0[t]!)))));
  });
  let maxAbsScore = 0;
  for (let p = 1; p < variant.length; p++) variant[p]!.forEach((c, t) => (maxAbsScore = Math.max(maxAbsScore, Math.abs(c - b0[t]!))));
  return { passesCompared: 1 + sample.length, baselineMaxAbsDiff, maxAbsScoreDiff, maxAbsScore, relative: maxAbsScore > 0 ? maxAbsScoreDiff / maxAbsScore : 0 };
}
