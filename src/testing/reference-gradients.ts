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

/** One attention site of an encoder-decoder reference: its role and how many keys each row sees. */
export interface ReferenceSite {
  role: 'self' | 'cross';
  heads: number;
  /** the decoder layer the site belongs to */
  layer: number;
}

/**
 * [T][S + E]: Chefer's rules for a decoder over S text positions that cross-attends to E encoder
 * rows (p.x holds the S text rows, then the E encoder rows; editProbs numbers the sites in the order
 * they run; E = 0 with self sites only is the decoder rule). G by forward differences on each
 * attention probability (one pass per weight: the float64 error, about h·y'', stays near 1e-7), on
 * the rows that can reach y: rows up to the target's in every layer but the last, whose other rows
 * only feed other positions' logits (their G is 0). The rules, written out on
 * plain matrices: R_tt = I, R_ti = 0; a self site adds Ā·R_tt to R_tt and Ā·R_ti to R_ti; a cross
 * site adds R̄_ttᵀ·Ā·R̄_ii to R_ti, where R̄ = (R − I, rows scaled to sum 1, rows summing to 0 left
 * at 0) + I and R̄_ii = I; the scores are row p_t of R_tt − I, then row p_t of R_ti.
 */
export function referenceCheferEncoderDecoder(p: ReferenceProblem, sites: readonly ReferenceSite[], S: number, E: number, h = 1e-7): Float64Array[] {
  const keysOf = (site: ReferenceSite) => (site.role === 'self' ? S : E);
  const lastLayer = Math.max(...sites.map((s) => s.layer));
  const A = sites.map((site) => Array.from({ length: site.heads * S }, () => new Float64Array(keysOf(site))));
  p.logits(p.x, (l, hd, row, probs) => A[l]![hd * S + row]!.set(probs));
  const matmul = (a: number[][], b: number[][]) => a.map((r) => b[0]!.map((_, j) => r.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
  const eye = (n: number): number[][] => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  return p.targetIds.map((id, t) => {
    const target = p.promptLen - 1 + t;
    const y = (edit?: EditProbs) => p.logits(p.x, edit)[target * p.vocab + id]!;
    const y0 = y();
    let Rtt = eye(S);
    let Rti = Array.from({ length: S }, () => new Array<number>(E).fill(0));
    sites.forEach((site, l) => {
      const K = keysOf(site);
      const bar = Array.from({ length: S }, () => new Array<number>(K).fill(0));
      for (let hd = 0; hd < site.heads; hd++) {
        for (let q = site.layer === lastLayer ? target : 0; q <= target; q++) {
          const visible = A[l]![hd * S + q]!;
          // a causal row sees keys 0..q; the probabilities past them are 0 and stay 0
          const seen = site.role === 'self' ? q + 1 : K;
          for (let k = 0; k < seen; k++) {
            const nudged = y((ll, hh, qq, probs) => {
              if (ll === l && hh === hd && qq === q) probs[k]! += h;
            });
            bar[q]![k]! += Math.max(0, ((nudged - y0) / h) * visible[k]!) / site.heads;
          }
        }
      }
      if (site.role === 'self') {
        const addTt = matmul(bar, Rtt);
        const addTi = matmul(bar, Rti);
        Rtt = Rtt.map((r, i) => r.map((v, j) => v + addTt[i]![j]!));
        Rti = Rti.map((r, i) => r.map((v, j) => v + addTi[i]![j]!));
      } else {
        const norm = Rtt.map((r, i) => {
          const hat = r.map((v, j) => v - (i === j ? 1 : 0));
          const sum = hat.reduce((a, b) => a + b, 0);
          return hat.map((v, j) => (sum !== 0 ? v / sum : 0) + (i === j ? 1 : 0));
        });
        const transposed = norm[0]!.map((_, i) => norm.map((r) => r[i]!));
        const add = matmul(matmul(transposed, bar), eye(E));
        Rti = Rti.map((r, i) => r.map((v, j) => v + add[i]![j]!));
      }
    });
    const out = new Float64Array(S + E);
    Rtt[target]!.forEach((v, j) => (out[j] = v - (j === target ? 1 : 0)));
    Rti[target]!.forEach((v, e) => (out[S + e] = v));
    return out;
  });
}
