// From each pass's logits to relevance (docs/method.md, "Scores and signs").
// Sign: paper sign throughout, R[u][t] = CE_u[t] - CE_0[t]; positive = suppressing u hurt the
// target, i.e. u is evidence. The reference code stores the negation; see toReferenceSign.

import { AtmanError } from './errors';
import type { PostProcess } from './types';

/**
 * Per batch item, CE[t] = -log softmax(logits at position P-1+t)[targetIds[t]], in float64.
 * logits is row-major [batch, seqLen, vocab]. Only the T target rows are read, so the caller can drop
 * the logits right after. A NaN logit in a row gives NaN for that target token.
 */
export function crossEntropyAtTargets(
  logits: ArrayLike<number>,
  batch: number,
  seqLen: number,
  vocab: number,
  promptLen: number,
  targetIds: number[],
): Float64Array[] {
  const T = targetIds.length;
  if (logits.length !== batch * seqLen * vocab) {
    throw new RangeError(`logits hold ${logits.length} values, expected ${batch}x${seqLen}x${vocab}`);
  }
  if (promptLen < 1 || promptLen - 1 + T > seqLen) {
    throw new RangeError(`prompt of ${promptLen} and ${T} target tokens do not fit a sequence of ${seqLen}`);
  }
  for (const id of targetIds) {
    if (!(Number.isInteger(id) && id >= 0 && id < vocab)) throw new RangeError(`target id ${id} outside vocabulary of ${vocab}`);
  }
  const out: Float64Array[] = [];
  for (let b = 0; b < batch; b++) {
    const ce = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      const row = (b * seqLen + promptLen - 1 + t) * vocab;
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) {
        const x = logits[row + v]!;
        if (x > max || Number.isNaN(x)) max = x;
        if (Number.isNaN(x)) break;
      }
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v]! - max);
      ce[t] = max + Math.log(sum) - logits[row + targetIds[t]!]!;
    }
    out.push(ce);
  }
  return out;
}

/** R[u][t] = CE_u[t] - CE_0[t] for every unit u (paper sign, positive = evidence). */
export function relevanceMatrix(ce0: ArrayLike<number>, ceUnits: ArrayLike<number>[]): Float64Array[] {
  return ceUnits.map((ce, u) => {
    if (ce.length !== ce0.length) throw new RangeError(`unit ${u} has ${ce.length} target scores, pass 0 has ${ce0.length}`);
    const r = new Float64Array(ce0.length);
    for (let t = 0; t < ce0.length; t++) r[t] = ce[t]! - ce0[t]!;
    return r;
  });
}

const post: Record<PostProcess, (x: number) => number> = {
  none: (x) => x,
  absolute: Math.abs,
  square: (x) => x * x,
};

/** One score per unit: the post-processed sum over target tokens, or the post-processed value at targetIndex. */
export function aggregate(R: ArrayLike<number>[], postprocess: PostProcess, targetIndex?: number): number[] {
  const f = post[postprocess];
  if (!f) throw new RangeError(`unknown post-processing "${postprocess}"`);
  return R.map((row) => {
    if (targetIndex !== undefined) {
      if (!(Number.isInteger(targetIndex) && targetIndex >= 0 && targetIndex < row.length)) {
        throw new RangeError(`target index ${targetIndex} outside ${row.length} target tokens`);
      }
      return f(row[targetIndex]!);
    }
    let s = 0;
    for (let t = 0; t < row.length; t++) s += f(row[t]!);
    return s;
  });
}

/** Rescales to [0, 1] for display only; all zeros when the values are all equal. Non-finite values stay NaN. */
export function minMaxNormalise(values: ArrayLike<number>): number[] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const range = max - min;
  return Array.from(values, (v) => (!Number.isFinite(v) ? NaN : range > 0 ? (v - min) / range : 0));
}

/** Converts paper-sign relevance to the reference code's sign (CE_0 - CE_u), for comparisons with it. */
export const toReferenceSign = (R: ArrayLike<number>[]): Float64Array[] => R.map((row) => Float64Array.from(row, (x) => -x));

/**
 * Throws NON_FINITE_SCORES when any value of any row is NaN or infinite. A score like that is not a
 * measurement (JSON would even write it as null), so a run that produced one fails as a whole.
 * `rows` are per pass (the unperturbed pass first) or per unit; `what` names them in the sentence.
 */
export function assertFinite(rows: readonly ArrayLike<number>[], what: 'passes' | 'units'): void {
  let bad = 0;
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      if (!Number.isFinite(row[i])) {
        bad++;
        break;
      }
    }
  }
  if (bad === 0) return;
  throw new AtmanError(
    'NON_FINITE_SCORES',
    `The model's outputs were not finite numbers (NaN or infinity) in ${bad} of ${rows.length} ${what}, so this run has no scores to show. ` +
      'This comes from an extreme factor, a damaged model file or an overflow at low precision: try a factor closer to 1, another precision (dtype) or the other backend.',
    { what, bad, of: rows.length },
  );
}
