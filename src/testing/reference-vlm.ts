// Independent, deliberately plain float64 forward passes of the two vision-language fixtures'
// decoders, with the AtMan manipulation written out as docs/method.md ("The manipulation") defines it:
//   - tiny-idefics3: a Llama decoder (RMSNorm, rotary, grouped KV heads, SiLU-gated MLP) over given
//     input embeddings, the image features already merged in; factors phi[S] on self-attention keys;
//   - tiny-vit-gpt2: a GPT-2 decoder with cross-attention over a given encoder output; factors
//     phi[S] on self-attention keys and psi[E] on cross-attention keys.
// Ground truth for the engine's image explanations: it reads the weights straight from the ONNX
// initializers and shares no code with the graph rewrite or the runtime.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, decodeModel, tensorPayload } from '../graph/ir/onnx-ir';
import { type AtmanMode, LOG_ADDITIVE_FLOOR } from './reference-gpt2';

export type { AtmanMode } from './reference-gpt2';

/** Every float32 initializer of an ONNX file (subgraphs included), as float64. */
export function readInitializers(bytes: Uint8Array): Map<string, { dims: number[]; data: Float64Array }> {
  const out = new Map<string, { dims: number[]; data: Float64Array }>();
  const visit = (g: ReturnType<typeof decodeModel>['graph']): void => {
    for (const t of g.initializers) {
      if (t.dataType !== DataType.FLOAT) continue;
      const p = tensorPayload(t);
      let data: Float64Array;
      if (p.floatData) data = Float64Array.from(p.floatData);
      else if (p.rawData) {
        const copy = new Uint8Array(p.rawData);
        data = Float64Array.from(new Float32Array(copy.buffer, 0, copy.byteLength / 4));
      } else throw new Error(`initializer ${t.name} has no inline data`);
      out.set(t.name, { dims: t.dims, data });
    }
    for (const n of g.nodes) for (const a of n.attributes) [a.g, ...(a.graphs ?? [])].forEach((sg) => sg && visit(sg));
  };
  visit(decodeModel(bytes).graph);
  return out;
}

export type Vec = Float64Array;

export class WeightSet {
  constructor(private readonly t: Map<string, { dims: number[]; data: Float64Array }>) {}
  get(name: string): Vec {
    const w = this.t.get(name);
    if (!w) throw new Error(`missing weight ${name}`);
    return w.data;
  }
  dims(name: string): number[] {
    return this.t.get(name)?.dims ?? [];
  }
  has(name: string): boolean {
    return this.t.has(name);
  }
}

/** y = x @ W (+ b), W row-major [K, N] */
export function matvec(x: Vec, w: Vec, K: number, N: number, b?: Vec): Vec {
  const y = b ? Float64Array.from(b) : new Float64Array(N);
  for (let k = 0; k < K; k++) {
    const xk = x[k]!;
    for (let n = 0; n < N; n++) y[n]! += xk * w[k * N + n]!;
  }
  return y;
}

function layerNorm(x: Vec, g: Vec, b: Vec, eps: number): Vec {
  const n = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * g[i]! + b[i]!);
}

export function rmsNorm(x: Vec, g: Vec, eps: number): Vec {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  const inv = 1 / Math.sqrt(ms + eps);
  return x.map((v, i) => v * inv * g[i]!);
}

export const add = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]!);
const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
export const silu = (x: number) => x / (1 + Math.exp(-x));

/**
 * One head's attention for every query row. keys/values are per key position, slices of length D.
 * Scores are scaled by 1/sqrt(D); with factors, multiplicative mode takes (s - min over ALL keys of
 * the row) * f (masked future keys included in the minimum), log-additive adds max(log f, -1e4);
 * then the causal mask (when `causal`) and the softmax.
 */
export function attendHead(
  q: (i: number) => Vec,
  k: (j: number) => Vec,
  v: (j: number) => Vec,
  rows: number,
  keys: number,
  factors: ArrayLike<number> | null,
  mode: AtmanMode,
  causal: boolean,
  /** may change each attention row (over the visible keys) before it weighs the values */
  editProbs?: (row: number, probs: Float64Array) => void,
): Vec[] {
  const out: Vec[] = [];
  for (let i = 0; i < rows; i++) {
    const qi = q(i);
    const D = qi.length;
    const s = new Float64Array(keys);
    for (let j = 0; j < keys; j++) {
      const kj = k(j);
      let dot = 0;
      for (let d = 0; d < D; d++) dot += qi[d]! * kj[d]!;
      s[j] = dot / Math.sqrt(D);
    }
    if (factors) {
      if (mode === 'multiplicative') {
        const m = Math.min(...s);
        for (let j = 0; j < keys; j++) s[j] = (s[j]! - m) * factors[j]!;
      } else {
        for (let j = 0; j < keys; j++) s[j]! += Math.max(Math.log(factors[j]!), LOG_ADDITIVE_FLOOR);
      }
    }
    const visible = causal ? i + 1 : keys;
    let mx = -Infinity;
    for (let j = 0; j < visible; j++) mx = Math.max(mx, s[j]!);
    const p = new Float64Array(visible);
    let z = 0;
    for (let j = 0; j < visible; j++) z += p[j] = Math.exp(s[j]! - mx);
    const ctx = new Float64Array(D);
    for (let j = 0; j < visible; j++) p[j] = p[j]! / z;
    editProbs?.(i, p);
    for (let j = 0; j < visible; j++) {
      const vj = v(j);
      for (let d = 0; d < D; d++) ctx[d]! += p[j]! * vj[d]!;
    }
    out.push(ctx);
  }
  return out;
}

const manipulated = (layers: readonly number[] | undefined, l: number) => layers === undefined || layers.includes(l);

// ---------------------------------------------------------------- tiny-idefics3 (Llama decoder)

export interface LlamaReference {
  w: WeightSet;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  hidden: number;
  headDim: number;
  vocab: number;
  ropeTheta: number;
  eps: number;
  /** token embedding table [vocab, hidden], from embed_tokens.onnx */
  embedTable: Vec;
  imageTokenId: number;
  /** weight-name prefix of the decoder: 'model.text_model.' (idefics3) or 'model.' (causal Llama exports) */
  prefix?: string;
}

/** A causal Llama fixture exported by optimum (tiny-llama, the demo model): weights from onnx/model.onnx. */
/** weights: the fp32 file's, or another variant's (dequantized) read by reference-weights.ts */
export function loadLlamaReference(dir: string, weights?: WeightSet): LlamaReference {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const w = weights ?? new WeightSet(readInitializers(readFileSync(join(dir, 'onnx', 'model.onnx'))));
  return {
    w,
    nLayer: c.num_hidden_layers,
    nHead: c.num_attention_heads,
    nKvHead: c.num_key_value_heads ?? c.num_attention_heads,
    hidden: c.hidden_size,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    vocab: c.vocab_size,
    ropeTheta: c.rope_theta ?? 10000,
    eps: c.rms_norm_eps,
    embedTable: w.get('model.embed_tokens.weight'),
    imageTokenId: -1,
    prefix: 'model.',
  };
}

export function loadIdefics3Reference(dir: string): LlamaReference {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const t = config.text_config;
  const w = new WeightSet(readInitializers(readFileSync(join(dir, 'onnx', 'decoder_model_merged.onnx'))));
  const embed = readInitializers(readFileSync(join(dir, 'onnx', 'embed_tokens.onnx'))).get('model.text_model.embed_tokens.weight');
  if (!embed) throw new Error('embed_tokens.onnx holds no model.text_model.embed_tokens.weight');
  return {
    w,
    nLayer: t.num_hidden_layers,
    nHead: t.num_attention_heads,
    nKvHead: t.num_key_value_heads,
    hidden: t.hidden_size,
    headDim: t.head_dim ?? t.hidden_size / t.num_attention_heads,
    vocab: t.vocab_size,
    ropeTheta: t.rope_theta,
    eps: t.rms_norm_eps,
    embedTable: embed.data,
    imageTokenId: config.image_token_id,
  };
}

/** Input embeddings of `ids`, with image-feature rows [n, hidden] put in place of the image tokens, in order. */
export function mergedEmbeddings(ref: LlamaReference, ids: readonly number[], features: ArrayLike<number>): Vec[] {
  const E = ref.hidden;
  let next = 0;
  const rows = ids.map((id) => {
    if (id !== ref.imageTokenId) return ref.embedTable.slice(id * E, (id + 1) * E);
    const row = Float64Array.from({ length: E }, (_, e) => features[next * E + e]!);
    next++;
    return row;
  });
  if (next * E !== features.length) throw new Error(`${next} image tokens for ${features.length / E} feature rows`);
  return rows;
}

/** Rotary as Llama applies it: x*cos + rotate_half(x)*sin, frequencies theta^(-2i/D) repeated over both halves. */
export function rotary(x: Vec, pos: number, theta: number): Vec {
  const D = x.length;
  const half = D / 2;
  const out = new Float64Array(D);
  for (let i = 0; i < half; i++) {
    const a = pos / Math.pow(theta, (2 * i) / D);
    const [c, s] = [Math.cos(a), Math.sin(a)];
    out[i] = x[i]! * c - x[i + half]! * s;
    out[i + half] = x[i + half]! * c + x[i]! * s;
  }
  return out;
}

/**
 * Logits [S, vocab] (row-major) of the Llama decoder over input embeddings at positions 0..S-1.
 * phi: factor per key column (length S) or null; layers: the manipulated layers (default all).
 */
export function llamaLogits(
  ref: LlamaReference,
  embeds: readonly Vec[],
  phi: ArrayLike<number> | null,
  mode: AtmanMode,
  layers?: readonly number[],
  /** may change each attention row before it weighs the values */
  editProbs?: (layer: number, head: number, row: number, probs: Float64Array) => void,
): Float64Array {
  const { w, nHead: H, nKvHead: KVH, hidden: E, headDim: D, vocab: V } = ref;
  const pre = ref.prefix ?? 'model.text_model.';
  const S = embeds.length;
  if (phi && phi.length !== S) throw new Error(`phi has ${phi.length} entries for ${S} columns`);
  const I = w.dims(`${pre}layers.0.mlp.gate_proj.MatMul.weight`)[1]!;
  let h: Vec[] = embeds.map((r) => Float64Array.from(r));
  for (let l = 0; l < ref.nLayer; l++) {
    const p = `${pre}layers.${l}`;
    const x = h.map((r) => rmsNorm(r, w.get(`${p}.input_layernorm.weight`), ref.eps));
    const q = x.map((r) => matvec(r, w.get(`${p}.self_attn.q_proj.MatMul.weight`), E, H * D));
    const k = x.map((r) => matvec(r, w.get(`${p}.self_attn.k_proj.MatMul.weight`), E, KVH * D));
    const v = x.map((r) => matvec(r, w.get(`${p}.self_attn.v_proj.MatMul.weight`), E, KVH * D));
    const ctx = h.map(() => new Float64Array(H * D));
    for (let hd = 0; hd < H; hd++) {
      const kv = Math.floor(hd / (H / KVH));
      const qs = q.map((r, i) => rotary(r.slice(hd * D, (hd + 1) * D), i, ref.ropeTheta));
      const ks = k.map((r, j) => rotary(r.slice(kv * D, (kv + 1) * D), j, ref.ropeTheta));
      const heads = attendHead((i) => qs[i]!, (j) => ks[j]!, (j) => v[j]!.subarray(kv * D, (kv + 1) * D), S, S, manipulated(layers, l) ? phi : null, mode, true, editProbs && ((i, pr) => editProbs(l, hd, i, pr)));
      heads.forEach((c, i) => ctx[i]!.set(c, hd * D));
    }
    h = h.map((r, i) => add(r, matvec(ctx[i]!, w.get(`${p}.self_attn.o_proj.MatMul.weight`), H * D, E)));
    h = h.map((r) => {
      const x2 = rmsNorm(r, w.get(`${p}.post_attention_layernorm.weight`), ref.eps);
      const gate = matvec(x2, w.get(`${p}.mlp.gate_proj.MatMul.weight`), E, I);
      const up = matvec(x2, w.get(`${p}.mlp.up_proj.MatMul.weight`), E, I);
      return add(r, matvec(gate.map((g, j) => silu(g) * up[j]!), w.get(`${p}.mlp.down_proj.MatMul.weight`), I, E));
    });
  }
  const out = new Float64Array(S * V);
  h.forEach((r, i) => out.set(matvec(rmsNorm(r, w.get(`${pre}norm.weight`), ref.eps), w.get('lm_head.MatMul.weight'), E, V), i * V));
  return out;
}

// ---------------------------------------------------------------- tiny-vit-gpt2 (GPT-2 with cross-attention)

export interface Gpt2CrossReference {
  w: WeightSet;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  vocab: number;
  eps: number;
}

export function loadVitGpt2Reference(dir: string): Gpt2CrossReference {
  const d = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).decoder;
  const w = new WeightSet(readInitializers(readFileSync(join(dir, 'onnx', 'decoder_model_merged.onnx'))));
  return { w, nLayer: d.n_layer, nHead: d.n_head, nEmbd: d.n_embd, vocab: d.vocab_size, eps: d.layer_norm_epsilon ?? 1e-5 };
}

/**
 * Logits [S, vocab] of the GPT-2 decoder over `ids` at positions 0..S-1, cross-attending to
 * `encoder` ([E][nEmbd]). phi: self-attention key factors (S) or null; psi: cross-attention key
 * factors (E) or null. layers: the manipulated layers (both attentions of each), default all.
 * opts.tokenEmbeds replaces the token-embedding rows (before position embeddings) of `ids`;
 * opts.editProbs may change each attention row before it weighs the values, the attention sites
 * numbered in the order they run (layer l: self-attention 2l, cross-attention 2l + 1).
 */
export function gpt2CrossLogits(
  ref: Gpt2CrossReference,
  ids: readonly number[],
  encoder: readonly Vec[],
  phi: ArrayLike<number> | null,
  psi: ArrayLike<number> | null,
  mode: AtmanMode,
  layers?: readonly number[],
  opts: { tokenEmbeds?: readonly Vec[]; editProbs?: (site: number, head: number, row: number, probs: Float64Array) => void } = {},
): Float64Array {
  const { w, nHead: H, nEmbd: E, vocab: V, eps } = ref;
  const edit = opts.editProbs;
  const D = E / H;
  const S = ids.length;
  const Enc = encoder.length;
  if (phi && phi.length !== S) throw new Error(`phi has ${phi.length} entries for ${S} columns`);
  if (psi && psi.length !== Enc) throw new Error(`psi has ${psi.length} entries for ${Enc} encoder columns`);
  const wte = w.get('decoder.transformer.wte.weight');
  const wpe = w.get('decoder.transformer.wpe.weight');
  const ln = (x: Vec, name: string) => layerNorm(x, w.get(`${name}.weight`), w.get(`${name}.bias`), eps);
  const conv = (x: Vec, name: string, K: number, N: number) => matvec(x, w.get(`${name}.weight`), K, N, w.get(`${name}.bias`));
  const tok = (id: number, i: number, e: number) => (opts.tokenEmbeds ? opts.tokenEmbeds[i]![e]! : wte[id * E + e]!);
  let h: Vec[] = ids.map((id, i) => Float64Array.from({ length: E }, (_, e) => tok(id, i, e) + wpe[i * E + e]!));
  for (let l = 0; l < ref.nLayer; l++) {
    const p = `decoder.transformer.h.${l}`;
    const on = manipulated(layers, l);
    // self-attention, causal
    const qkv = h.map((r) => conv(ln(r, `${p}.ln_1`), `${p}.attn.c_attn`, E, 3 * E));
    const ctx = h.map(() => new Float64Array(E));
    for (let hd = 0; hd < H; hd++) {
      const heads = attendHead(
        (i) => qkv[i]!.subarray(hd * D, (hd + 1) * D),
        (j) => qkv[j]!.subarray(E + hd * D, E + (hd + 1) * D),
        (j) => qkv[j]!.subarray(2 * E + hd * D, 2 * E + (hd + 1) * D),
        S, S, on ? phi : null, mode, true, edit && ((i, pr) => edit(2 * l, hd, i, pr)),
      );
      heads.forEach((c, i) => ctx[i]!.set(c, hd * D));
    }
    h = h.map((r, i) => add(r, conv(ctx[i]!, `${p}.attn.c_proj`, E, E)));
    // cross-attention over every encoder position, no mask
    const q = h.map((r) => conv(ln(r, `${p}.ln_cross_attn`), `${p}.crossattention.q_attn`, E, E));
    const kv = encoder.map((r) => conv(Float64Array.from(r), `${p}.crossattention.c_attn`, E, 2 * E));
    const cctx = h.map(() => new Float64Array(E));
    for (let hd = 0; hd < H; hd++) {
      const heads = attendHead(
        (i) => q[i]!.subarray(hd * D, (hd + 1) * D),
        (j) => kv[j]!.subarray(hd * D, (hd + 1) * D),
        (j) => kv[j]!.subarray(E + hd * D, E + (hd + 1) * D),
        S, Enc, on ? psi : null, mode, false, edit && ((i, pr) => edit(2 * l + 1, hd, i, pr)),
      );
      heads.forEach((c, i) => cctx[i]!.set(c, hd * D));
    }
    h = h.map((r, i) => add(r, conv(cctx[i]!, `${p}.crossattention.c_proj`, E, E)));
    h = h.map((r) => add(r, conv(conv(ln(r, `${p}.ln_2`), `${p}.mlp.c_fc`, E, 4 * E).map(geluNew), `${p}.mlp.c_proj`, 4 * E, E)));
  }
  // lm_head is tied to wte
  const out = new Float64Array(S * V);
  h.forEach((r, i) => {
    const hf = ln(r, 'decoder.transformer.ln_f');
    for (let t = 0; t < V; t++) {
      let dot = 0;
      for (let e = 0; e < E; e++) dot += hf[e]! * wte[t * E + e]!;
      out[i * V + t] = dot;
    }
  });
  return out;
}

/** -log softmax(logits[row])[target] for each (row, target) pair. */
export function crossEntropies(logits: Float64Array, vocab: number, rows: readonly number[], targets: readonly number[]): number[] {
  return rows.map((r, i) => {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
    return lse - row[targets[i]!]!;
  });
}
