// Attention rollout (Abnar & Zuidema 2020) as AtMan's authors ran it for comparison: per layer the
// head-mean attention plus the identity (the residual stream), row-normalised, multiplied through
// the layers from the last one down. Square [S, S] matrices, row-major, rows = queries.
import { addProduct } from './matrix';

/**
 * Mean over heads of one layer's attention probabilities [heads, S, S] (batch item 0 of a
 * [batch, heads, S, S] tensor is the first heads*S*S values). `chosen` picks heads; null = all.
 */
export function headMean(probs: ArrayLike<number>, heads: number, S: number, chosen: readonly number[] | null = null): Float64Array {
  if (probs.length < heads * S * S) throw new RangeError(`attention holds ${probs.length} values, expected at least ${heads}x${S}x${S}`);
  const which = chosen ?? Array.from({ length: heads }, (_, h) => h);
  if (which.length === 0) throw new RangeError('no heads chosen');
  for (const h of which) if (!(Number.isInteger(h) && h >= 0 && h < heads)) throw new RangeError(`head ${h} outside 0..${heads - 1}`);
  const out = new Float64Array(S * S);
  for (const h of which) for (let i = 0; i < S * S; i++) out[i]! += probs[h * S * S + i]!;
  for (let i = 0; i < S * S; i++) out[i]! /= which.length;
  return out;
}

/** rownorm(A + I): the identity stands for the residual connection around the attention. */
export function withResidual(A: ArrayLike<number>, S: number): Float64Array {
  if (A.length !== S * S) throw new RangeError(`matrix holds ${A.length} values, expected ${S}x${S}`);
  const out = Float64Array.from(A);
  for (let q = 0; q < S; q++) {
    out[q * S + q]! += 1;
    let sum = 0;
    for (let k = 0; k < S; k++) sum += out[q * S + k]!;
    for (let k = 0; k < S; k++) out[q * S + k]! /= sum;
  }
  return out;
}

/**
 * R = Â_L · … · Â_1 with Â_l = rownorm(A_l + I), layers given first to last as head-mean
 * attention [S, S]. R[q, k] is how much of input token k reaches position q at the top.
 */
export function attentionRollout(layers: readonly ArrayLike<number>[], S: number): Float64Array {
  if (layers.length === 0) throw new RangeError('rollout needs at least one layer');
  let R = withResidual(layers[0]!, S);
  for (let l = 1; l < layers.length; l++) {
    const A = withResidual(layers[l]!, S);
    const next = new Float64Array(S * S);
    addProduct(next, A, R, S, S, S);
    R = next;
  }
  return R;
}

/** Sum of row `row` of a square [S, S] matrix over the given columns. */
export function columnMass(M: ArrayLike<number>, S: number, row: number, columns: readonly number[]): number {
  if (!(Number.isInteger(row) && row >= 0 && row < S)) throw new RangeError(`row ${row} outside 0..${S - 1}`);
  let s = 0;
  for (const k of columns) {
    if (!(Number.isInteger(k) && k >= 0 && k < S)) throw new RangeError(`column ${k} outside 0..${S - 1}`);
    s += M[row * S + k]!;
  }
  return s;
}
