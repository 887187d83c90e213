// Independent float64 versions of the gradient methods, built on the float64 reference forward
// passes by central finite differences: no autodiff, no ONNX. A model is seen only through
//   logits(embeds, editProbs?) -> [S, vocab] float64,
// where embeds are the token embeddings per position (before position embeddings) and editProbs may
// change each attention row before it weighs the values.
import { gaussLegendre01 } from '../core/gradient-attribution';

export type EditProbs = (layer: number, head: number, row: number, probs: Float64Array) => void;
export type LogitsFn = (embeds: readonly Float64Array[], editProbs?: EditProbs) => Float64Array;

export interface ReferenceProblem {
  logits: LogitsFn;
  /** token embeddings of the sequence */
  x: Float64Array[];
  vocab: number;
  promptLen: number;
  targetIds: number[];
}

function logProbs(p: ReferenceProblem, embeds: readonly Float64Array[], edit?: EditProbs): number[] {
  const L = p.logits(embeds, edit);
  return p.targetIds.map((id, t) => {
    const row = L.subarray((p.promptLen - 1 + t) * p.vocab, (p.promptLen + t) * p.vocab);
    let mx = -Infinity;
    for (const v of row) mx = Math.max(mx, v);
    let z = 0;
    for (const v of row) z += Math.exp(v - mx);
    return row[id]! - mx - Math.log(z);
  });
}

/**
 * d log p_t / d(direction x_i) at z: the directional derivative along x_i (position i's own
 * embedding), which is exactly sum_d x_id · dL_t/dz_id. Central differences, step h.
 */
function directional(p: ReferenceProblem, z: readonly Float64Array[], i: number, h: number): number[] {
  const shift = (s: number) => z.map((r, k) => (k === i ? r.map((v, d) => v + s * p.x[i]![d]!) : r));
  const up = logProbs(p, shift(h));
  const down = logProbs(p, shift(-h));
  return up.map((u, t) => (u - down[t]!) / (2 * h));
}

/** [T][S]: s_{t,i} = sum_d x_id · d log p_t / dx_id. */
export function referenceInputXGradient(p: ReferenceProblem, h = 1e-5): Float64Array[] {
  const T = p.targetIds.length;
  const out = Array.from({ length: T }, () => new Float64Array(p.x.length));
  for (let i = 0; i < p.x.length; i++) directional(p, p.x, i, h).forEach((v, t) => (out[t]![i] = v));
  return out;
}

/** [T][S]: s_{t,i} = sum_k w_k · sum_d x_id · d log p_t / dz_id at z = a_k x (Gauss–Legendre on [0, 1]). */
export function referenceIntegratedGradients(p: ReferenceProblem, steps: number, h = 1e-5): Float64Array[] {
  const { nodes, weights } = gaussLegendre01(steps);
  const T = p.targetIds.length;
  const out = Array.from({ length: T }, () => new Float64Array(p.x.length));
  nodes.forEach((a, k) => {
    const z = p.x.map((r) => r.map((v) => a * v));
    for (let i = 0; i < p.x.length; i++) directional(p, z, i, h).forEach((v, t) => (out[t]![i]! += weights[k]! * v));
  });
  return out;
}

/**
 * [T][S]: Chefer's decoder rule with G_l = dy/dA_l taken by central differences on each attention
 * probability (A_l treated as free, later layers recomputed), y = the raw logit of target t.
 */
export function referenceChefer(p: ReferenceProblem, layers: number, heads: number, h = 1e-6): Float64Array[] {
  const S = p.x.length;
  const A = Array.from({ length: layers }, () => new Float64Array(heads * S * S));
  p.logits(p.x, (l, hd, row, probs) => probs.forEach((v, k) => (A[l]![(hd * S + row) * S + k] = v)));
  return p.targetIds.map((id, t) => {
    const row = p.promptLen - 1 + t;
    const y = (edit?: EditProbs) => p.logits(p.x, edit)[row * p.vocab + id]!;
    const G = Array.from({ length: layers }, () => new Float64Array(heads * S * S));
    for (let l = 0; l < layers; l++) {
      for (let hd = 0; hd < heads; hd++) {
        // rows after the target's own row cannot reach y
        for (let q = 0; q <= row; q++) {
          for (let k = 0; k <= q; k++) {
            const nudge = (s: number): EditProbs => (ll, hh, qq, probs) => {
              if (ll === l && hh === hd && qq === q) probs[k]! += s;
            };
            G[l]![(hd * S + q) * S + k] = (y(nudge(h)) - y(nudge(-h))) / (2 * h);
          }
        }
      }
    }
    // R = I; R <- R + mean_h max(G ⊙ A, 0) R
    let R = Array.from({ length: S }, (_, i) => Float64Array.from({ length: S }, (_, j) => (i === j ? 1 : 0)));
    for (let l = 0; l < layers; l++) {
      const bar = Array.from({ length: S }, (_, i) =>
        Float64Array.from({ length: S }, (_, j) => {
          let s = 0;
          for (let hd = 0; hd < heads; hd++) s += Math.max(0, G[l]![(hd * S + i) * S + j]! * A[l]![(hd * S + i) * S + j]!);
          return s / heads;
        }),
      );
      R = R.map((r, i) => r.map((v, j) => v + bar[i]!.reduce((a, b, k) => a + b * R[k]![j]!, 0)));
    }
    return R[row]!.map((v, j) => (j === row ? v - 1 : v));
  });
}
