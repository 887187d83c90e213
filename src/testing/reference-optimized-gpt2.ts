// A float64 forward pass of GPT-2 as onnxruntime's transformer optimizer leaves it
// (fixtures/models/ortgenai-tiny-random-gpt2): the weights are read from the fused ops' inputs in
// graph order (EmbedLayerNormalization: tables, gamma, beta; per layer an Attention with packed QKV
// weight and bias, its output projection, a SkipLayerNormalization, the MLP's two products with a
// FastGelu bias between them, another SkipLayerNormalization; the head's product), and the
// computation is written out from GPT-2's definition: pre-norm blocks, causal attention, tanh GELU.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Node, attrInt, decodeModel, getAttr } from '../graph/ir/onnx-ir';
import type { EditProbs } from './reference-gradients';
import { type Vec, WeightSet, add, attendHead, matvec } from './reference-vlm';
import { readReferenceWeights } from './reference-weights';

interface Norm {
  gamma: Vec;
  beta: Vec;
  /** SkipLayerNormalization's bias, added to the sum */
  bias: Vec | null;
  eps: number;
}

export interface OptimizedGpt2Reference {
  wte: Vec;
  wpe: Vec;
  hidden: number;
  vocab: number;
  nHead: number;
  embedNorm: Norm;
  layers: Array<{ qkv: Vec; qkvBias: Vec; proj: Vec; norm1: Norm; fc: Vec; fcBias: Vec; fcOut: Vec; norm2: Norm }>;
  head: Vec;
}

export function loadOptimizedGpt2Reference(dir: string): OptimizedGpt2Reference {
  const bytes = new Uint8Array(readFileSync(join(dir, 'onnx', 'model.onnx')));
  const w = new WeightSet(readReferenceWeights(bytes));
  const nodes = decodeModel(bytes).graph.nodes;
  const of = (type: string) => nodes.filter((n) => n.opType === type);
  const norm = (n: Node, g: number, b: number, bias?: number): Norm => ({
    gamma: w.get(n.inputs[g]!),
    beta: w.get(n.inputs[b]!),
    bias: bias !== undefined && n.inputs[bias] ? w.get(n.inputs[bias]!) : null,
    eps: getAttr(n, 'epsilon')?.f ?? 1e-12,
  });
  const [eln] = of('EmbedLayerNormalization');
  const attention = of('Attention');
  const skips = of('SkipLayerNormalization');
  const gelus = of('FastGelu');
  // every MatMul reads its weight as input 1: per layer the output projection, the MLP's two, then the head
  const products = of('MatMul').map((n) => w.get(n.inputs[1]!));
  if (!eln || skips.length !== 2 * attention.length || products.length !== 3 * attention.length + 1) throw new Error('not the optimizer GPT-2 layout');
  const [vocab, hidden] = w.dims(eln.inputs[2]!) as [number, number];
  return {
    wte: w.get(eln.inputs[2]!),
    wpe: w.get(eln.inputs[3]!),
    hidden,
    vocab: w.dims(nodes.filter((n) => n.opType === 'MatMul').at(-1)!.inputs[1]!)[1] ?? vocab,
    nHead: attrInt(attention[0]!, 'num_heads', 0),
    embedNorm: norm(eln, 5, 6),
    layers: attention.map((a, l) => ({
      qkv: w.get(a.inputs[1]!),
      qkvBias: w.get(a.inputs[2]!),
      proj: products[3 * l]!,
      norm1: norm(skips[2 * l]!, 2, 3, 4),
      fc: products[3 * l + 1]!,
      fcBias: w.get(gelus[l]!.inputs[1]!),
      fcOut: products[3 * l + 2]!,
      norm2: norm(skips[2 * l + 1]!, 2, 3, 4),
    })),
    head: products.at(-1)!,
  };
}

function layerNorm(x: Vec, n: Norm): Vec {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  const inv = 1 / Math.sqrt(variance + n.eps);
  return x.map((v, i) => (v - mean) * inv * n.gamma[i]! + n.beta[i]!);
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

/** Logits [S, vocab] over the token embeddings at positions 0..S-1. */
export function optimizedGpt2Logits(ref: OptimizedGpt2Reference, embeds: readonly Vec[], editProbs?: EditProbs): Float64Array {
  const { hidden: E, nHead: H, vocab: V } = ref;
  const D = E / H;
  const S = embeds.length;
  // the residual stream, and the normalized input of the next block
  let h: Vec[] = embeds.map((r, i) => r.map((v, e) => v + ref.wpe[i * E + e]!));
  let x = h.map((r) => layerNorm(r, ref.embedNorm));
  ref.layers.forEach((L, l) => {
    const qkv = x.map((r) => matvec(r, L.qkv, E, 3 * E, L.qkvBias));
    const ctx = h.map(() => new Float64Array(E));
    for (let hd = 0; hd < H; hd++) {
      const part = (i: number, which: number) => qkv[i]!.subarray(which * E + hd * D, which * E + (hd + 1) * D);
      const heads = attendHead((i) => part(i, 0), (j) => part(j, 1), (j) => part(j, 2), S, S, null, 'multiplicative', true, editProbs && ((i, pr) => editProbs(l, hd, i, pr)));
      heads.forEach((c, i) => ctx[i]!.set(c, hd * D));
    }
    const withBias = (r: Vec, n: Norm) => (n.bias ? add(r, n.bias) : r);
    h = h.map((r, i) => withBias(add(r, matvec(ctx[i]!, L.proj, E, E)), L.norm1));
    const x2 = h.map((r) => layerNorm(r, L.norm1));
    const I = L.fcBias.length;
    h = h.map((r, i) => withBias(add(r, matvec(matvec(x2[i]!, L.fc, E, I, L.fcBias).map(gelu), L.fcOut, I, E)), L.norm2));
    x = h.map((r) => layerNorm(r, L.norm2));
  });
  const out = new Float64Array(S * V);
  x.forEach((r, i) => out.set(matvec(r, ref.head, E, V), i * V));
  return out;
}
