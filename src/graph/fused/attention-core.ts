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
  let s = e.op('MatMul', [c.q, e.transpose(c.k, [0, 1, 3, 2])]);
  s = e.op('Mul', [s, e.scalar(c.computeType, c.scale)]);
  if (c.softcap && c.softcap > 0) {
    const cap = e.scalar(c.computeType, c.softcap);
    s = e.op('Mul', [e.op('Tanh', [e.op('Div', [s, cap])]), cap]);
  }
  if (c.additiveMask) s = e.op('Add', [s, c.additiveMask]);
  if (c.bias) s = e.op('Add', [s, c.bias]);
  // -inf rather than a large negative: the kernels skip these keys, so their weight is exactly 0.
  if (c.allowed) s = e.op('Where', [c.allowed, s, e.scalar(c.computeType, -Infinity)]);
  const probs = e.op('Softmax', [s], { axis: -1 });
  return e.op('MatMul', [probs, c.v]);
}

/** Range(0, n) as int64 [n], n a 1-D [1] int64 value. */
export function arange(e: Emitter, n: string): string {
  return e.op('Range', [e.i64(0), e.squeeze(n, [0]), e.i64(1)]);
}
