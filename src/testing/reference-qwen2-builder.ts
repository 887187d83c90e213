// A float64 forward pass of the tiny-qwen2-builder fixture (scripts/fixtures/genai-builder.ts), read
// from its fp32 weights and written out from the architecture, not from the graph: RMSNorm, packed
// QKV with bias, rotary at positions 0..S-1 (non-interleaved halves), grouped KV heads, SiLU-gated MLP.
// With factors it applies the AtMan manipulation in every layer, as the other references do.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AtmanMode } from './reference-gpt2';
import type { EditProbs } from './reference-gradients';
import { type Vec, WeightSet, add, attendHead, matvec, readInitializers, rmsNorm, rotary, silu } from './reference-vlm';

export interface Qwen2BuilderReference {
  w: WeightSet;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  hidden: number;
  intermediate: number;
  vocab: number;
  ropeTheta: number;
  eps: number;
}

/** weights: the fp32 file's, or another variant's (dequantized) read by reference-weights.ts */
export function loadQwen2BuilderReference(dir: string, weights?: WeightSet): Qwen2BuilderReference {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  return {
    w: weights ?? new WeightSet(readInitializers(readFileSync(join(dir, 'onnx', 'model.onnx')))),
    nLayer: c.num_hidden_layers,
    nHead: c.num_attention_heads,
    nKvHead: c.num_key_value_heads,
    headDim: c.hidden_size / c.num_attention_heads,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    vocab: c.vocab_size,
    ropeTheta: c.rope_theta,
    eps: c.rms_norm_eps,
  };
}

/** Logits [S, vocab] row-major; phi: factor per key column (length S) or null. */
export function qwen2BuilderLogits(ref: Qwen2BuilderReference, ids: readonly number[], phi: ArrayLike<number> | null, mode: AtmanMode): Float64Array {
  const table = ref.w.get('model.embed_tokens.weight');
  return qwen2BuilderLogitsOver(ref, ids.map((id) => table.slice(id * ref.hidden, (id + 1) * ref.hidden)), phi, mode);
}

/** The same over given token embeddings; editProbs may change each attention row before it weighs the values. */
export function qwen2BuilderLogitsOver(ref: Qwen2BuilderReference, embeds: readonly Vec[], phi: ArrayLike<number> | null, mode: AtmanMode, editProbs?: EditProbs): Float64Array {
  const { w, nHead: H, nKvHead: KVH, headDim: D, hidden: E, intermediate: I, vocab: V } = ref;
  const S = embeds.length;
  let h: Vec[] = embeds.map((r) => Float64Array.from(r));
  const QKV = (H + 2 * KVH) * D;
  for (let l = 0; l < ref.nLayer; l++) {
    const p = `model.layers.${l}`;
    const x = h.map((r) => rmsNorm(r, w.get(`${p}.input_layernorm.weight`), ref.eps));
    const qkv = x.map((r) => matvec(r, w.get(`${p}.attn.qkv_proj.weight`), E, QKV, w.get(`${p}.attn.qkv_proj.bias`)));
    const ctx = h.map(() => new Float64Array(H * D));
    for (let hd = 0; hd < H; hd++) {
      const kv = Math.floor(hd / (H / KVH));
      const qs = qkv.map((r, i) => rotary(r.slice(hd * D, (hd + 1) * D), i, ref.ropeTheta));
      const ks = qkv.map((r, j) => rotary(r.slice(H * D + kv * D, H * D + (kv + 1) * D), j, ref.ropeTheta));
      const vs = qkv.map((r) => r.slice((H + KVH) * D + kv * D, (H + KVH) * D + (kv + 1) * D));
      const heads = attendHead((i) => qs[i]!, (j) => ks[j]!, (j) => vs[j]!, S, S, phi, mode, true, editProbs && ((i, pr) => editProbs(l, hd, i, pr)));
      heads.forEach((c, i) => ctx[i]!.set(c, hd * D));
    }
    h = h.map((r, i) => add(r, matvec(ctx[i]!, w.get(`${p}.attn.o_proj.weight`), H * D, E)));
    h = h.map((r) => {
      const x2 = rmsNorm(r, w.get(`${p}.post_attention_layernorm.weight`), ref.eps);
      const gate = matvec(x2, w.get(`${p}.mlp.gate_proj.weight`), E, I);
      const up = matvec(x2, w.get(`${p}.mlp.up_proj.weight`), E, I);
      return add(r, matvec(gate.map((g, j) => silu(g) * up[j]!), w.get(`${p}.mlp.down_proj.weight`), I, E));
    });
  }
  const out = new Float64Array(S * V);
  h.forEach((r, i) => out.set(matvec(rmsNorm(r, w.get('model.norm.weight'), ref.eps), w.get('lm_head.weight'), E, V), i * V));
  return out;
}
