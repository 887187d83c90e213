// The attention every fused op computes, written so that insertAttentionControl
// finds it as a decomposed site: q·kᵀ from a MatMul of two activations, then
// only elementwise ops (scale, softcap, masks, bias) into Softmax(axis=-1),
// whose output weights V in the next MatMul.
import type { Emitter } from './emitter';

export interface CoreInputs {
  /** [B,N,S,H] in the compute type */
  q: string;
  /** [B,N,T,H] in the compute type, heads already repeated for grouped attention */
  k: string;
  v: string;
  /** float type the scores are computed in */
  computeType: number;
  scale: number;
  /** > 0: scores become softcap·tanh(scores/softcap) */
  softcap?: number;
  /** additive mask [B|1,1,S|1,T] (0 or the mask filter value), added before the bias */
  additiveMask?: string;
  /** attention_bias [B|1,N|1,S,T] in the compute type */
  bias?: string;
  /** bool [B|1,1,S|1,T]: false keys are left out of the softmax entirely */
  allowed?: string;
}

/** Returns the attention result [B,N,S,H] in the compute type. */
export function attend(e: Emitter, c: CoreInputs): string {
  const ct = c.computeType;
  // every score value is typed: later passes must know the float type of what they rewrite
  let s = e.typed(e.op('MatMul', [c.q, e.transpose(c.k, [0, 1, 3, 2])]), ct);
  s = e.typed(e.op('Mul', [s, e.scalar(ct, c.scale)]), ct);
  if (c.softcap && c.softcap > 0) {
    const cap = e.scalar(ct, c.softcap);
    s = e.typed(e.op('Mul', [e.op('Tanh', [e.op('Div', [s, cap])]), cap]), ct);
  }
  if (c.additiveMask) s = e.typed(e.op('Add', [s, c.additiveMask]), ct);
  if (c.bias) s = e.typed(e.op('Add', [s, c.bias]), ct);
  // -inf rather than a large negative: the kernels skip these keys, so their weight is exactly 0.
  if (c.allowed) s = e.typed(e.op('Where', [c.allowed, s, e.scalar(ct, -Infinity)]), ct);
  const probs = e.typed(e.op('Softmax', [s], { axis: -1 }), ct);
  return e.typed(e.op('MatMul', [probs, c.v]), ct);
}

/** Range(0, n) as int64 [n], n a 1-D [1] int64 value. */
export function arange(e: Emitter, n: string): string {
  return e.op('Range', [e.i64(0), e.squeeze(n, [0]), e.i64(1)]);
}

export interface MaskedAttention {
  /** in the node's type; cast to the compute type here */
  q: string;
  k: string;
  v: string;
  dtype: number;
  computeType: number;
  scale: number;
  /** bool keys a query may see, or undefined for all */
  allowed: string | undefined;
  /** what the op adds to hidden keys (its mask_filter_value): finite, as the kernels add it */
  filterValue: number;
  bias: string | undefined;
  /** heads x head size of the result */
  width: number;
  /** the fused node's output name, written in the node's type */
  output: string;
}

/**
 * Attention as contrib Attention and MultiHeadAttention compute it: hidden keys get the op's filter
 * value added (not -inf), the result merged back to [B,S,width] in the node's type.
 */
export function attendMasked(e: Emitter, a: MaskedAttention): void {
  const ct = a.computeType;
  const additiveMask = a.allowed ? e.op('Where', [a.allowed, e.scalar(ct, 0), e.scalar(ct, a.filterValue)]) : undefined;
  const out = attend(e, {
    q: e.cast(a.q, a.dtype, ct),
    k: e.cast(a.k, a.dtype, ct),
    v: e.cast(a.v, a.dtype, ct),
    computeType: ct,
    scale: a.scale,
    additiveMask,
    bias: a.bias ? e.cast(a.bias, a.dtype, ct) : undefined,
  });
  const merged = e.fromHeads(out, a.width, ct === a.dtype ? a.output : undefined);
  if (ct !== a.dtype) e.op('Cast', [merged], { to: a.dtype }, a.output);
}
