// Chefer et al.'s (2021) relevance rules for a decoder that cross-attends to an encoder output
// (image captioners): the decoder's self-attention rule of cheferRow, joined to the bi-modal rules
// for its cross-attention. docs/autodiff.md ("Chefer for captioners") writes the rule out.
//
// Text (the decoder's sequence, S positions) is modality t, the encoder output rows (E) modality i.
// The encoder output rows are the inputs explained, so R_ii = I and never changes, and the encoder
// never attends to the text, so R_it = 0 throughout: the cross-attention rule's R_tt update
// (Ā · R_it) adds nothing and is left out.

import { relevanceHeadMean } from './gradient-attribution';
import { addProduct } from './matrix';

export interface CheferSite {
  role: 'self' | 'cross';
  /** softmax probabilities, [heads, S, keys] row-major (keys = S for self, E for cross) */
  A: ArrayLike<number>;
  /** dy/dA, shaped like A */
  G: ArrayLike<number>;
}

/**
 * R̄ = R̂ + I with R̂ = R − I, each row of R̂ divided by its sum (the paper's normalisation of what
 * the aggregation added). A row of R̂ that sums to 0 (nothing aggregated yet) stays 0: the paper's
 * division would make it NaN.
 */
export function normalizedResidual(R: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += R[i * n + j]! - (i === j ? 1 : 0);
    for (let j = 0; j < n; j++) {
      const hat = R[i * n + j]! - (i === j ? 1 : 0);
      out[i * n + j] = (sum !== 0 ? hat / sum : 0) + (i === j ? 1 : 0);
    }
  }
  return out;
}

/**
 * One target row of the encoder-decoder rule: R_tt = I [S, S], R_ti = 0 [S, E]; for each attention
 * site in the order the decoder runs them, with Ā its head mean of max(G ⊙ A, 0):
 *   self:  R_tt += Ā · R_tt,  R_ti += Ā · R_ti                (the paper's rules 6 and 7)
 *   cross: R_ti += R̄_ttᵀ · Ā · R̄_ii, with R̄_ii = I          (rule 10; rule 11 adds Ā · R_it = 0)
 * Returns [S + E]: (R_tt − I)[row, ·] for the text columns, then R_ti[row, ·] for the encoder rows.
 */
export function cheferEncoderDecoderRow(sites: readonly CheferSite[], S: number, E: number, row: number): Float64Array {
  let Rtt = new Float64Array(S * S);
  for (let i = 0; i < S; i++) Rtt[i * S + i] = 1;
  let Rti = new Float64Array(S * E);
  for (const site of sites) {
    if (site.role === 'self') {
      const bar = relevanceHeadMean(site.A, site.G, S, S);
      const tt = Float64Array.from(Rtt);
      const ti = Float64Array.from(Rti);
      addProduct(tt, bar, Rtt, S, S, S);
      addProduct(ti, bar, Rti, S, S, E);
      Rtt = tt;
      Rti = ti;
    } else {
      const bar = relevanceHeadMean(site.A, site.G, S, E);
      const norm = normalizedResidual(Rtt, S);
      // R̄_ttᵀ · Ā: entry [i, e] = sum_k R̄_tt[k, i] · Ā[k, e]
      const transposed = new Float64Array(S * S);
      for (let i = 0; i < S; i++) for (let k = 0; k < S; k++) transposed[i * S + k] = norm[k * S + i]!;
      addProduct(Rti, transposed, bar, S, S, E);
    }
  }
  const out = new Float64Array(S + E);
  out.set(Rtt.subarray(row * S, row * S + S));
  out[row]! -= 1;
  out.set(Rti.subarray(row * E, row * E + E), S);
  return out;
}
