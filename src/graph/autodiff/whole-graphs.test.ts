// The autodiff pass over whole exported graphs, including ones other tools wrote (PyTorch's own
// exporter at opset 14, an optimum-style merged decoder with an If, the onnxruntime-genai builder's
// fused GroupQueryAttention / SkipSimplifiedLayerNormalization and its 4-bit MatMulNBits variant,
// onnxruntime's optimizer output at opset 11 with EmbedLayerNormalization, a q8 Llama):
// the gradient of the target log-probabilities with respect to the token embeddings, projected on
// each position's own embedding, against central differences of the same graph's forward pass in
// float32. (The engine's float64 agreement is tested in src/runtime/gradients/.)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { TARGET_LOGPROBS_OUTPUT } from '../append-target-scoring';
import { DataType, type ValueInfo, decodeModel, encodeModel } from '../ir/onnx-ir';
import { buildGradientGraph } from '../../runtime/gradients/gradient-sessions';
import { rng } from '../../testing/finite-differences';
import { GRAD_SEED_INPUT } from './append-gradients';

const GRAPHS = [
  '../shared/fixtures/torch-export/tiny_gpt2.onnx',
  '../shared/fixtures/torch-export/tiny_llama_kv.onnx',
  '../shared/fixtures/torch-export/tiny_merged.onnx',
  'fixtures/models/tiny-qwen2-builder/onnx/model.onnx',
  'fixtures/models/tiny-qwen2-builder/onnx/model_q4.onnx',
  'fixtures/models/tiny-llama-gqa/onnx/model.onnx',
  'fixtures/models/tiny-gpt2/onnx/model_q4.onnx',
  'fixtures/models/ortgenai-tiny-random-gpt2/onnx/model.onnx',
  'fixtures/models/tiny-llama/onnx/model_quantized.onnx',
].map((p) => (p.startsWith('../shared') ? p.replace('../shared', '/work/shared') : p));

/** The token-embedding table's [vocab, dim]: from config.json next to a hub-layout graph, else from the lookup's table. */
function tableDims(file: string, bytes: Uint8Array): [number, number] {
  const config = join(dirname(file), '..', 'config.json');
  if (existsSync(config)) {
    const c = JSON.parse(readFileSync(config, 'utf8'));
    return [c.vocab_size, c.hidden_size ?? c.n_embd];
  }
  const g = decodeModel(bytes).graph;
  const inits = new Map(g.initializers.map((t) => [t.name, t.dims]));
  for (const sub of [g, ...g.nodes.flatMap((n) => n.attributes.filter((a) => a.g).map((a) => a.g!))]) {
    for (const n of sub.nodes) {
      const d = n.opType === 'Gather' ? (inits.get(n.inputs[0]!) ?? sub.initializers.find((t) => t.name === n.inputs[0])?.dims) : undefined;
      if (d?.length === 2 && n.inputs[1] === 'input_ids') return [d[0]!, d[1]!];
    }
  }
  throw new Error('no embedding table found');
}

function feeds(inputs: ValueInfo[], ids: number[], emb: Float32Array, D: number, embName: string, T: number): Record<string, ort.Tensor> {
  const S = ids.length;
  const f: Record<string, ort.Tensor> = {};
  const ints = (v: ValueInfo, data: number[], dims: number[]) =>
    v.elemType === DataType.INT32 ? new ort.Tensor('int32', Int32Array.from(data), dims) : new ort.Tensor('int64', BigInt64Array.from(data.map(BigInt)), dims);
  for (const v of inputs) {
    const n = v.name;
    if (n === 'input_ids') f[n] = ints(v, ids, [1, S]);
    else if (n === 'attention_mask') f[n] = ints(v, new Array(S).fill(1), [1, S]);
    else if (n === 'position_ids') f[n] = ints(v, ids.map((_, i) => i), [1, S]);
    else if (n === 'use_cache_branch') f[n] = new ort.Tensor('bool', [false], [1]);
    else if (n.startsWith('past_key_values')) f[n] = new ort.Tensor('float32', new Float32Array(0), [1, v.dims![1] as number, 0, v.dims![3] as number]);
    else if (n === 'atman_target_positions') f[n] = new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, t) => BigInt(S - T + t)), [T]);
    else if (n === 'atman_target_ids') f[n] = new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, t) => BigInt(ids[(t * 3) % S]!)), [T]);
    else if (n === embName) f[n] = new ort.Tensor('float32', emb, [1, S, D]);
    else if (n === GRAD_SEED_INPUT) f[n] = new ort.Tensor('float32', new Float32Array(T).fill(1), [1, T]);
    else throw new Error(`unexpected input ${n}`);
  }
  return f;
}

describe('gradients of whole graphs against central differences of their forward pass (float32)', () => {
  for (const file of GRAPHS) {
    it.runIf(existsSync(file))(file.replace(/^.*fixtures\//, ''), async () => {
      const bytes = new Uint8Array(readFileSync(file));
      const [V, D] = tableDims(file, bytes);
      const { graph, made } = buildGradientGraph(bytes, 'embeddings');
      const session = await ort.InferenceSession.create(encodeModel(graph));
      const rand = rng(3);
      const S = 7;
      const T = 3;
      const ids = Array.from({ length: S }, () => Math.floor(rand() * Math.min(V, 300)));
      const x = Float32Array.from({ length: S * D }, () => rand() - 0.5);
      const emb = made.embeddingsInput!;
      const out = await session.run(feeds(made.inputs, ids, x, D, emb, T));
      const g = out[made.gradients[0]!]!.data as Float32Array;
      const L = async (e: Float32Array): Promise<number> => {
        const lp = (await session.run(feeds(made.inputs, ids, e, D, emb, T)))[TARGET_LOGPROBS_OUTPUT]!.data as Float32Array;
        return lp.reduce((a, v) => a + v, 0);
      };
      let err = 0;
      let scale = 0;
      const h = 1e-2;
      for (let i = 0; i < S; i++) {
        let analytic = 0;
        for (let d = 0; d < D; d++) analytic += x[i * D + d]! * g[i * D + d]!;
        const shifted = (s: number) => Float32Array.from(x, (v, k) => (k >= i * D && k < (i + 1) * D ? v * (1 + s) : v));
        const fd = ((await L(shifted(h))) - (await L(shifted(-h)))) / (2 * h);
        err = Math.max(err, Math.abs(fd - analytic));
        scale = Math.max(scale, Math.abs(fd));
      }
      await session.release();
      expect(scale).toBeGreaterThan(1e-3);
      expect(err / scale, `max error ${err} at scale ${scale}`).toBeLessThan(1e-2);
    });
  }
});
