// A float64 forward pass of the onnxruntime-genai test decoder in fixtures/models/ortgenai-tiny-qwen-gqa
// (its README): pre-norm LayerNorm with bias, separate q/k/v projections without bias, grouped KV
// heads with causal attention and no rotary, ReLU MLP, untied head. Written from that description,
// not from the graph; it reads the graph's weights (fp16, widened exactly) by their names.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EditProbs } from './reference-gradients';
import { type Vec, type WeightSet, add, attendHead, matvec } from './reference-vlm';
import { referenceWeightSet } from './reference-weights';

export interface GenaiGqaReference {
  w: WeightSet;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  hidden: number;
  vocab: number;
  eps: number;
}

export function loadGenaiGqaReference(dir: string, file: string): GenaiGqaReference {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  return {
    w: referenceWeightSet(join(dir, 'onnx', file)),
    nLayer: c.num_hidden_layers,
    nHead: c.num_attention_heads,
    nKvHead: c.num_key_value_heads,
    headDim: c.head_dim,
    hidden: c.hidden_size,
    vocab: c.vocab_size,
    // the graph's epsilon attribute, 1e-5 as float32
    eps: Math.fround(1e-5),
  };
}

function layerNorm(x: Vec, g: Vec, b: Vec, eps: number): Vec {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * g[i]! + b[i]!);
}

/** Logits [S, vocab] row-major over the token embeddings at positions 0..S-1. */
export function genaiGqaLogits(ref: GenaiGqaReference, embeds: readonly Vec[], editProbs?: EditProbs): Float64Array {
  const { w, nHead: H, nKvHead: KVH, headDim: D, hidden: E, vocab: V } = ref;
  const S = embeds.length;
  const I = w.dims('l0.up.w')[1]!;
  let h: Vec[] = embeds.map((r) => Float64Array.from(r));
  for (let l = 0; l < ref.nLayer; l++) {
    const x = h.map((r) => layerNorm(r, w.get(`l${l}.ln1.w`), w.get(`l${l}.ln1.b`), ref.eps));
    const q = x.map((r) => matvec(r, w.get(`l${l}.q.w`), E, H * D));
    const k = x.map((r) => matvec(r, w.get(`l${l}.k.w`), E, KVH * D));
    const v = x.map((r) => matvec(r, w.get(`l${l}.v.w`), E, KVH * D));
    const ctx = h.map(() => new Float64Array(H * D));
    for (let hd = 0; hd < H; hd++) {
      const kv = Math.floor(hd / (H / KVH));
      const heads = attendHead((i) => q[i]!.subarray(hd * D, (hd + 1) * D), (j) => k[j]!.subarray(kv * D, (kv + 1) * D), (j) => v[j]!.subarray(kv * D, (kv + 1) * D), S, S, null, 'multiplicative', true, editProbs && ((i, pr) => editProbs(l, hd, i, pr)));
      heads.forEach((c, i) => ctx[i]!.set(c, hd * D));
    }
    h = h.map((r, i) => add(r, matvec(ctx[i]!, w.get(`l${l}.o.w`), H * D, E)));
    h = h.map((r) => {
      const up = matvec(layerNorm(r, w.get(`l${l}.ln2.w`), w.get(`l${l}.ln2.b`), ref.eps), w.get(`l${l}.up.w`), E, I).map((u) => Math.max(0, u));
      return add(r, matvec(up, w.get(`l${l}.dn.w`), I, E));
    });
  }
  const out = new Float64Array(S * V);
  h.forEach((r, i) => out.set(matvec(layerNorm(r, w.get('norm.w'), w.get('norm.b'), ref.eps), w.get('lm_head.w'), E, V), i * V));
  return out;
}
