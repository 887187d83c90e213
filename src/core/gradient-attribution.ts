// The arithmetic of the gradient methods, on plain arrays: Gauss–Legendre quadrature for integrated
// gradients, input × gradient per position, and Chefer et al.'s (2021) decoder rule for relevance
// through the attention layers. docs/autodiff.md gives the definitions.

import { addProduct } from './matrix';

/** Gauss–Legendre nodes integrated gradients takes when none are asked for (the range is NUMBER_RULES.steps). */
export const DEFAULT_IG_STEPS = 50;

/** n Gauss–Legendre nodes and weights on [0, 1] (Newton's method on the Legendre polynomial P_n). */
export function gaussLegendre01(n: number): { nodes: Float64Array; weights: Float64Array } {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`Gauss–Legendre needs a positive whole number of nodes, not ${n}`);
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let iter = 0; iter < 100; iter++) {
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      if (n === 1) p0 = 1;
      const p = n === 1 ? x : p1;
      dp = (n * (x * p - (n === 1 ? 1 : p0))) / (x * x - 1);
      const dx = p / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    // recompute the derivative at the converged root
    let p0 = 1;
    let p1 = x;
    for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
    dp = n === 1 ? 1 : (n * (x * p1 - p0)) / (x * x - 1);
    const w = 2 / ((1 - x * x) * dp * dp);
    // map [-1, 1] to [0, 1]: ascending order
    nodes[i] = (1 - x) / 2;
    nodes[n - 1 - i] = (1 + x) / 2;
    weights[i] = weights[n - 1 - i] = w / 2;
  }
  return { nodes, weights };
}

/** s_i = sum_d x[i, d] * g[i, d] for an [S, D] pair, accumulated into `into`. */
export function inputTimesGradient(x: ArrayLike<number>, g: ArrayLike<number>, S: number, D: number, into = new Float64Array(S), weight = 1): Float64Array {
  for (let i = 0; i < S; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[i * D + d]! * g[i * D + d]!;
    into[i]! += weight * s;
  }
  return into;
}

/**
 * Chefer's decoder rule for one target row: R = I; for each layer in order,
 * Abar = mean over heads of max(G ⊙ A, 0), R ← R + Abar · R; returns row `row` of R − I.
 * A and G: per layer, [heads, S, S] row-major.
 */
export function cheferRow(A: readonly ArrayLike<number>[], G: readonly ArrayLike<number>[], heads: number, S: number, row: number): Float64Array {
  let R = new Float64Array(S * S);
  for (let i = 0; i < S; i++) R[i * S + i] = 1;
  for (let l = 0; l < A.length; l++) {
    if (A[l]!.length !== heads * S * S) throw new Error(`layer ${l}'s attention holds ${A[l]!.length} values, not [${heads}, ${S}, ${S}]`);
    const next = Float64Array.from(R);
    addProduct(next, relevanceHeadMean(A[l]!, G[l]!, S, S), R, S, S, S);
    R = next;
  }
  const out = R.slice(row * S, row * S + S);
  out[row]! -= 1;
  return out;
}

/** Mean over heads of max(G ⊙ A, 0) for attention [heads, S, keys] row-major: [S, keys]. */
export function relevanceHeadMean(A: ArrayLike<number>, G: ArrayLike<number>, S: number, keys: number): Float64Array {
  const size = S * keys;
  const heads = A.length / size;
  if (!Number.isInteger(heads) || G.length !== A.length) throw new Error(`attention of ${A.length} values does not hold whole [heads, ${S}, ${keys}] blocks`);
  const bar = new Float64Array(size);
  for (let h = 0; h < heads; h++) {
    const off = h * size;
    for (let k = 0; k < size; k++) {
      const v = A[off + k]! * G[off + k]!;
      if (v > 0) bar[k]! += v / heads;
    }
  }
  return bar;
}
