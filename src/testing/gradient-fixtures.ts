// The float64 side of the gradient agreement tests per layout: which reference forward pass reads
// which fixture, over which weights (the fp32 file's, or a quantized variant's dequantized ones).
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { ModelDtype } from '../runtime/model/dtypes';
import type { GradientFixture } from './gradient-agreement';
import { type Gpt2Weights, loadGpt2Fixture, referenceLogits64 } from './reference-gpt2';
import { loadQwen2BuilderReference, qwen2BuilderLogitsOver } from './reference-qwen2-builder';
import { llamaLogits, loadLlamaReference } from './reference-vlm';
import { genaiGqaLogits, loadGenaiGqaReference } from './reference-genai-gqa';
import { loadOptimizedGpt2Reference, optimizedGpt2Logits } from './reference-optimized-gpt2';
import { readReferenceWeights, referenceWeightSet } from './reference-weights';

export interface VariantOptions {
  /** the ONNX file under onnx/ whose weights the reference reads (default model.onnx) */
  file?: string;
  dtype?: ModelDtype;
  texts?: [string, string];
  note?: RegExp;
  minScale?: { input?: number; chefer?: number };
}

const passThrough = (o: VariantOptions) => ({ ...(o.dtype ? { dtype: o.dtype } : {}), ...(o.texts ? { texts: o.texts } : {}), ...(o.note ? { note: o.note } : {}), ...(o.minScale ? { minScale: o.minScale } : {}) });

/** GPT-2 (learned positions, LayerNorm, tied head) over the file's weights, dequantized where quantized. */
export function gpt2Fixture(dir: string, o: VariantOptions = {}): GradientFixture {
  const w: Gpt2Weights = o.file ? gpt2WeightsOf(dir, o.file) : loadGpt2Fixture(dir);
  const wte = w.tensors.get('transformer.wte.weight')!;
  return {
    dir,
    ...passThrough(o),
    layers: w.nLayer,
    heads: w.nHead,
    vocab: w.vocab,
    embedding: (id) => wte.slice(id * w.nEmbd, (id + 1) * w.nEmbd),
    logits: (ids) => (embeds, editProbs) => referenceLogits64(w, ids, null, 'multiplicative', undefined, { tokenEmbedding: (i) => embeds[i]!, ...(editProbs ? { editProbs } : {}) }),
  };
}

function gpt2WeightsOf(dir: string, file: string): Gpt2Weights {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const all = readReferenceWeights(new Uint8Array(readFileSync(join(dir, 'onnx', file))));
  const tensors = new Map([...all].filter(([k]) => k.startsWith('transformer.')).map(([k, v]) => [k, v.data]));
  let nLayer = 0;
  while (tensors.has(`transformer.h.${nLayer}.ln_1.weight`)) nLayer++;
  const [vocab, nEmbd] = all.get('transformer.wte.weight')!.dims as [number, number];
  // the exporter's name for the tied head's own (quantized) copy
  const head = all.get('onnx::MatMul_lm_head');
  return { nLayer, nHead: config.n_head, nEmbd, vocab, nPositions: all.get('transformer.wpe.weight')!.dims[0]!, eps: config.layer_norm_epsilon ?? 1e-5, tensors, ...(head ? { lmHead: head.data } : {}) };
}

/** Llama as optimum exports it (RMSNorm, rotary, grouped KV heads, SiLU-gated MLP). */
export function llamaFixture(dir: string, o: VariantOptions = {}): GradientFixture {
  const ref = loadLlamaReference(dir, o.file ? referenceWeightSet(join(dir, 'onnx', o.file)) : undefined);
  const E = ref.hidden;
  return {
    dir,
    ...passThrough(o),
    layers: ref.nLayer,
    heads: ref.nHead,
    vocab: ref.vocab,
    embedding: (id) => ref.embedTable.slice(id * E, (id + 1) * E),
    logits: () => (embeds, editProbs) => llamaLogits(ref, embeds, null, 'multiplicative', undefined, editProbs),
  };
}

/** The onnxruntime-genai builder's qwen2 layout (packed QKV with bias, rotary, grouped KV heads). */
export function qwen2BuilderFixture(dir: string, o: VariantOptions = {}): GradientFixture {
  const ref = loadQwen2BuilderReference(dir, referenceWeightSet(join(dir, 'onnx', o.file ?? 'model.onnx')));
  const table = ref.w.get('model.embed_tokens.weight');
  const E = ref.hidden;
  return {
    dir,
    ...passThrough(o),
    layers: ref.nLayer,
    heads: ref.nHead,
    vocab: ref.vocab,
    embedding: (id) => table.slice(id * E, (id + 1) * E),
    logits: () => (embeds, editProbs) => qwen2BuilderLogitsOver(ref, embeds, null, 'multiplicative', editProbs),
  };
}

/** The onnxruntime-genai test decoder (LayerNorm, GroupQueryAttention without rotary, ReLU MLP), over its fp16 weights. */
export function genaiGqaFixture(dir: string, o: VariantOptions & { file: string }): GradientFixture {
  const ref = loadGenaiGqaReference(dir, o.file);
  const table = ref.w.get('embed_tokens.weight');
  const E = ref.hidden;
  return {
    dir,
    ...passThrough(o),
    layers: ref.nLayer,
    heads: ref.nHead,
    vocab: ref.vocab,
    embedding: (id) => table.slice(id * E, (id + 1) * E),
    logits: () => (embeds, editProbs) => genaiGqaLogits(ref, embeds, editProbs),
  };
}

/** GPT-2 after onnxruntime's transformer optimizer (EmbedLayerNormalization, contrib Attention, SkipLayerNormalization, FastGelu). */
export function optimizedGpt2Fixture(dir: string, o: VariantOptions = {}): GradientFixture {
  const ref = loadOptimizedGpt2Reference(dir);
  const E = ref.hidden;
  return {
    dir,
    ...passThrough(o),
    layers: ref.layers.length,
    heads: ref.nHead,
    vocab: ref.vocab,
    embedding: (id) => ref.wte.slice(id * E, (id + 1) * E),
    logits: () => (embeds, editProbs) => optimizedGpt2Logits(ref, embeds, editProbs),
  };
}
