// An independent, deliberately plain forward pass of the tiny-gpt2 fixture with the AtMan
// attention manipulation written out as docs/method.md ("The manipulation") defines it. Float64 throughout.
// Used as ground truth for the graph rewrite: it shares no code with src/graph/passes or src/runtime.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, decodeModel, tensorPayload, type Tensor } from '../graph/ir/onnx-ir';

export interface Gpt2Weights {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  vocab: number;
  nPositions: number;
  eps: number;
  tensors: Map<string, Float64Array>;
  /** an LM head of its own, [nEmbd, vocab] row-major (quantized variants quantize a copy of the tied table); default: the token table */
  lmHead?: Float64Array;
}

export type AtmanMode = 'multiplicative' | 'log-additive';

export interface ReferenceExtras {
  keyMask?: ArrayLike<number>;
  onProbs?: (layer: number, head: number, row: number, probs: Float64Array) => void;
  /** replaces the token-embedding row of each position (before position embeddings are added) */
  tokenEmbedding?: (position: number) => ArrayLike<number>;
  /** may change an attention row (over keys 0..row) before it weighs the values */
  editProbs?: (layer: number, head: number, row: number, probs: Float64Array) => void;
}

/** phi = 0 in log-additive mode maps here instead of -infinity */
export const LOG_ADDITIVE_FLOOR = -1e4;

function floatsOf(t: Tensor, readExternal?: (location: string) => Uint8Array): Float64Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`initializer ${t.name} is not float32`);
  const p = tensorPayload(t);
  let bytes: Uint8Array;
  if (p.rawData) bytes = p.rawData;
  else if (p.floatData) return Float64Array.from(p.floatData);
  else if (p.external && readExternal) {
    const all = readExternal(p.external.location);
    const len = p.external.length ?? all.length - p.external.offset;
    bytes = all.subarray(p.external.offset, p.external.offset + len);
  } else throw new Error(`initializer ${t.name} has no readable data`);
  const copy = new Uint8Array(bytes); // aligned copy
  return Float64Array.from(new Float32Array(copy.buffer, 0, copy.byteLength / 4));
}

/** Read the weights out of the fixture's ONNX bytes; n_head is not recoverable from shapes. */
export function readGpt2Weights(
  modelBytes: Uint8Array,
  config: { n_head: number; layer_norm_epsilon?: number },
  readExternal?: (location: string) => Uint8Array,
): Gpt2Weights {
  const model = decodeModel(modelBytes);
  const tensors = new Map<string, Float64Array>();
  const dims = new Map<string, number[]>();
  for (const t of model.graph.initializers) {
    if (!t.name.startsWith('transformer.') || t.dataType !== DataType.FLOAT) continue;
    tensors.set(t.name, floatsOf(t, readExternal));
    dims.set(t.name, t.dims);
  }
  const wte = dims.get('transformer.wte.weight');
  const wpe = dims.get('transformer.wpe.weight');
  if (!wte || !wpe) throw new Error('not a tiny-gpt2 fixture: transformer.wte.weight / transformer.wpe.weight missing');
  let nLayer = 0;
  while (tensors.has(`transformer.h.${nLayer}.ln_1.weight`)) nLayer++;
  return {
    nLayer,
    nHead: config.n_head,
    nEmbd: wte[1]!,
    vocab: wte[0]!,
    nPositions: wpe[0]!,
    eps: config.layer_norm_epsilon ?? 1e-5,
    tensors,
  };
}

/** Load fixtures/models/<name> (config.json + onnx/<file>), external data included. */
export function loadGpt2Fixture(dir: string, file = 'model.onnx'): Gpt2Weights {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { n_head: number; layer_norm_epsilon?: number };
  return readGpt2Weights(readFileSync(join(dir, 'onnx', file)), config, (loc) => readFileSync(join(dir, 'onnx', loc)));
}

function get(w: Gpt2Weights, name: string): Float64Array {
  const t = w.tensors.get(name);
  if (!t) throw new Error(`missing weight ${name}`);
  return t;
}

function layerNorm(x: Float64Array, g: Float64Array, b: Float64Array, eps: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i]! - mean) ** 2;
  v /= n;
  const inv = 1 / Math.sqrt(v + eps);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (x[i]! - mean) * inv * g[i]! + b[i]!;
  return out;
}

/** y = x @ W + b with W row-major [K, N] */
function linear(x: Float64Array, w: Float64Array, b: Float64Array, K: number, N: number): Float64Array {
  const y = Float64Array.from(b);
  for (let k = 0; k < K; k++) {
    const xk = x[k]!;
    for (let n = 0; n < N; n++) y[n]! += xk * w[k * N + n]!;
  }
  return y;
}

const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

/**
 * Logits [seq, vocab] for one unpadded sequence at positions 0..seq-1.
 * factors: phi per key column (length seq), or null for the unmanipulated model.
 * multiplicative: s'[q,k] = (s[q,k] - m[q]) * phi[k], m[q] = min over ALL keys of the scaled q.k row
 *   (causally masked future keys included), then the causal mask, then softmax.
 * log-additive: s'[q,k] = s[q,k] + max(log phi[k], -1e4) on the scaled scores.
 * layers: which layers are manipulated (default all).
 * extra.keyMask: 0 drops that key column from every softmax (an attention_mask of 0); a row left
 *   with no key attends to nothing (its context is zero).
 * extra.onProbs: receives every attention row after the softmax, over keys 0..row.
 */
export function referenceLogits(
  w: Gpt2Weights,
  inputIds: number[],
  factors: Float32Array | null,
  mode: AtmanMode,
  layers?: number[],
  extra: ReferenceExtras = {},
): Float32Array {
  return Float32Array.from(referenceLogits64(w, inputIds, factors, mode, layers, extra));
}

/** referenceLogits without the final rounding to float32. */
export function referenceLogits64(
  w: Gpt2Weights,
  inputIds: number[],
  factors: Float32Array | null,
  mode: AtmanMode,
  layers?: number[],
  extra: ReferenceExtras = {},
): Float64Array {
  const visible = (j: number) => !extra.keyMask || extra.keyMask[j] !== 0;
  const S = inputIds.length;
  const E = w.nEmbd;
  const H = w.nHead;
  const D = E / H;
  if (factors && factors.length !== S) throw new Error(`factors has length ${factors.length}, expected ${S}`);
  if (S > w.nPositions) throw new Error('sequence longer than n_positions');
  const wte = get(w, 'transformer.wte.weight');
  const wpe = get(w, 'transformer.wpe.weight');

  let h: Float64Array[] = inputIds.map((id, i) => {
    if (id < 0 || id >= w.vocab) throw new Error(`token id ${id} out of range`);
    const v = new Float64Array(E);
    const row = extra.tokenEmbedding?.(i);
    for (let e = 0; e < E; e++) v[e] = (row ? row[e]! : wte[id * E + e]!) + wpe[i * E + e]!;
    return v;
  });

  for (let l = 0; l < w.nLayer; l++) {
    const p = `transformer.h.${l}`;
    const manipulate = factors !== null && (layers === undefined || layers.includes(l));
    const x = h.map((r) => layerNorm(r, get(w, `${p}.ln_1.weight`), get(w, `${p}.ln_1.bias`), w.eps));
    const qkv = x.map((r) => linear(r, get(w, `${p}.attn.c_attn.weight`), get(w, `${p}.attn.c_attn.bias`), E, 3 * E));
    const ctx = h.map(() => new Float64Array(E));
    for (let hd = 0; hd < H; hd++) {
      const q = (i: number, d: number) => qkv[i]![hd * D + d]!;
      const k = (i: number, d: number) => qkv[i]![E + hd * D + d]!;
      const v = (i: number, d: number) => qkv[i]![2 * E + hd * D + d]!;
      for (let i = 0; i < S; i++) {
        // raw scaled scores over all keys, future ones included
        const s = new Float64Array(S);
        for (let j = 0; j < S; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q(i, d) * k(j, d);
          s[j] = dot / Math.sqrt(D);
        }
        if (manipulate) {
          if (mode === 'multiplicative') {
            let m = Infinity;
            for (let j = 0; j < S; j++) m = Math.min(m, s[j]!);
            for (let j = 0; j < S; j++) s[j] = (s[j]! - m) * factors![j]!;
          } else {
            for (let j = 0; j < S; j++) s[j]! += Math.max(Math.log(factors![j]!), LOG_ADDITIVE_FLOOR);
          }
        }
        // causal mask, softmax over keys 0..i
        let mx = -Infinity;
        for (let j = 0; j <= i; j++) if (visible(j)) mx = Math.max(mx, s[j]!);
        let z = 0;
        const pr = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) z += pr[j] = visible(j) ? Math.exp(s[j]! - mx) : 0;
        for (let j = 0; j <= i; j++) pr[j] = z > 0 ? pr[j]! / z : 0;
        extra.editProbs?.(l, hd, i, pr);
        for (let j = 0; j <= i; j++) {
          const a = pr[j]!;
          for (let d = 0; d < D; d++) ctx[i]![hd * D + d]! += a * v(j, d);
        }
        extra.onProbs?.(l, hd, i, pr);
      }
    }
    h = h.map((r, i) => {
      const o = linear(ctx[i]!, get(w, `${p}.attn.c_proj.weight`), get(w, `${p}.attn.c_proj.bias`), E, E);
      return r.map((val, e) => val + o[e]!);
    });
    h = h.map((r) => {
      const x2 = layerNorm(r, get(w, `${p}.ln_2.weight`), get(w, `${p}.ln_2.bias`), w.eps);
      const fc = linear(x2, get(w, `${p}.mlp.c_fc.weight`), get(w, `${p}.mlp.c_fc.bias`), E, 4 * E).map(geluNew);
      const o = linear(fc, get(w, `${p}.mlp.c_proj.weight`), get(w, `${p}.mlp.c_proj.bias`), 4 * E, E);
      return r.map((val, e) => val + o[e]!);
    });
  }

  const out = new Float64Array(S * w.vocab);
  for (let i = 0; i < S; i++) {
    const hf = layerNorm(h[i]!, get(w, 'transformer.ln_f.weight'), get(w, 'transformer.ln_f.bias'), w.eps);
    for (let t = 0; t < w.vocab; t++) {
      let dot = 0;
      if (w.lmHead) for (let e = 0; e < E; e++) dot += hf[e]! * w.lmHead[e * w.vocab + t]!;
      else for (let e = 0; e < E; e++) dot += hf[e]! * wte[t * E + e]!;
      out[i * w.vocab + t] = dot;
    }
  }
  return out;
}
