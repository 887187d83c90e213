import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { isAtmanError } from '../core/errors';
import { FACTORS_INPUT, insertAttentionControl } from './insert-attention-control';
import { DataType, type Model, decodeModel, encodeModel } from './ir/onnx-ir';
import { emptyGraph, makeNode, makeTensor, makeValueInfo } from './ir/onnx-build';

const TORCH = '../shared/fixtures/torch-export';
const OWN = 'fixtures/models';

interface Case {
  name: string;
  file: string;
  layers: number;
  kvHeads?: number;
  headDim?: number;
  fused?: boolean;
}

const CASES: Case[] = [
  { name: 'torch tiny_gpt2 (eager: MatMul/Div/Where/Add/Softmax)', file: `${TORCH}/tiny_gpt2.onnx`, layers: 2 },
  { name: 'torch tiny_llama_kv (rotary, Cast, KV cache)', file: `${TORCH}/tiny_llama_kv.onnx`, layers: 2, kvHeads: 4, headDim: 8 },
  { name: 'torch tiny_merged (If branches)', file: `${TORCH}/tiny_merged.onnx`, layers: 2 },
  { name: 'tiny-gpt2', file: `${OWN}/tiny-gpt2/onnx/model.onnx`, layers: 2 },
  { name: 'tiny-gpt2-kv (KV cache)', file: `${OWN}/tiny-gpt2-kv/onnx/model.onnx`, layers: 2, kvHeads: 2, headDim: 16 },
  { name: 'tiny-gpt2 q4 (MatMulNBits)', file: `${OWN}/tiny-gpt2/onnx/model_q4.onnx`, layers: 2 },
  { name: 'tiny-llama (GQA heads, KV cache)', file: `${OWN}/tiny-llama/onnx/model.onnx`, layers: 2, kvHeads: 2, headDim: 8 },
  { name: 'tiny-llama-sdpa (pre-scaled q, k)', file: `${OWN}/tiny-llama-sdpa/onnx/model.onnx`, layers: 2 },
  { name: 'tiny-llama-gqa (fused GroupQueryAttention)', file: `${OWN}/tiny-llama-gqa/onnx/model.onnx`, layers: 2, kvHeads: 2, headDim: 8, fused: true },
];

const S = 6;
const IDS = [3, 17, 42, 5, 17, 9];

function feedsFor(m: Model, c: Case, batch: number, factors?: Float32Array): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const rows = (f: (i: number) => bigint) => new ort.Tensor('int64', BigInt64Array.from({ length: batch * S }, (_, j) => f(j % S)), [batch, S]);
  for (const v of m.graph.inputs) {
    if (v.name === 'input_ids') feeds[v.name] = rows((i) => BigInt(IDS[i]!));
    else if (v.name === 'attention_mask') feeds[v.name] = rows(() => 1n);
    else if (v.name === 'position_ids') feeds[v.name] = rows((i) => BigInt(i));
    else if (v.name === 'use_cache_branch') feeds[v.name] = new ort.Tensor('bool', [false], [1]);
    else if (v.name.startsWith('past_key_values')) feeds[v.name] = new ort.Tensor('float32', new Float32Array(0), [batch, c.kvHeads!, 0, c.headDim!]);
    else if (v.name === FACTORS_INPUT) feeds[v.name] = new ort.Tensor('float32', factors!, [batch, S]);
    else throw new Error(`unexpected input ${v.name}`);
  }
  return feeds;
}

async function logits(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run(feeds, ['logits']);
  await s.release();
  return out.logits!.data as Float32Array;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array, from = 0, to = a.length): number => {
  let d = 0;
  for (let i = from; i < to; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

describe('insertAttentionControl on real exporter graphs and project fixtures', () => {
  for (const c of CASES) {
    const modes = c.fused ? (['log-additive'] as const) : (['multiplicative', 'log-additive'] as const);
    for (const mode of modes) {
      it(`${c.name}, ${mode}: all-ones identity, causal prefix, suppression takes effect`, async () => {
        const bytes = new Uint8Array(readFileSync(c.file));
        const original = decodeModel(bytes);
        const reference = await logits(bytes, feedsFor(original, c, 1));
        const V = reference.length / S;

        const m = decodeModel(bytes);
        const report = insertAttentionControl(m, { mode, expectedLayers: c.layers });
        for (const n of Object.values(report.layersPerGraph)) expect(n).toBe(c.layers);
        expect(report.controlledLayers).toEqual([0, 1]);
        // decoder-only models: no site reads an encoder, so no cross factors input
        expect(report.sites.every((s) => s.role === 'self')).toBe(true);
        expect(report.crossLayersPerGraph).toEqual({});
        expect(report.crossFactorsInput).toBeNull();
        expect(m.graph.inputs.filter((i) => i.name.startsWith('atman')).map((i) => i.name)).toEqual([FACTORS_INPUT]);
        const rewritten = encodeModel(m);

        // item 0: all ones; item 1: suppress key column j; item 2: phi = 0 on column j
        const j = 3;
        const factors = new Float32Array(3 * S).fill(1);
        factors[S + j] = 0.1;
        factors[2 * S + j] = 0;
        const out = await logits(rewritten, feedsFor(m, c, 3, factors));
        expect(maxAbsDiff(reference, out.subarray(0, S * V))).toBeLessThanOrEqual(1e-6);
        for (const item of [1, 2]) {
          const row = out.subarray(item * S * V, (item + 1) * S * V);
          expect(maxAbsDiff(reference, row, 0, j * V)).toBeLessThanOrEqual(1e-6);
          expect(maxAbsDiff(reference, row, j * V, S * V)).toBeGreaterThan(1e-3);
          expect(row.every(Number.isFinite)).toBe(true);
        }
      });
    }
  }

  it('restricts the control to chosen layers', async () => {
    const c = CASES[3]!;
    const bytes = new Uint8Array(readFileSync(c.file));
    const m = decodeModel(bytes);
    const report = insertAttentionControl(m, { mode: 'multiplicative', layers: [1], expectedLayers: 2 });
    expect(report.controlledLayers).toEqual([1]);
    expect(report.sites.map((s) => s.controlled)).toEqual([false, true]);
    const all = decodeModel(bytes);
    insertAttentionControl(all, { mode: 'multiplicative', expectedLayers: 2 });
    const factors = new Float32Array(S).fill(1);
    factors[1] = 0;
    const onlyLast = await logits(encodeModel(m), feedsFor(m, c, 1, factors));
    const every = await logits(encodeModel(all), feedsFor(all, c, 1, factors));
    expect(maxAbsDiff(onlyLast, every)).toBeGreaterThan(1e-4);
  });

  it('refuses multiplicative mode on a fused GroupQueryAttention, naming the op', () => {
    const m = decodeModel(new Uint8Array(readFileSync(`${OWN}/tiny-llama-gqa/onnx/model.onnx`)));
    expect(() => insertAttentionControl(m, { mode: 'multiplicative' })).toThrowError(/GroupQueryAttention.*log-additive/s);
  });

  it('feeds the bias input of the single-node torch GroupQueryAttention fixture', () => {
    const m = decodeModel(new Uint8Array(readFileSync(`${TORCH}/tiny_gqa.onnx`)));
    const report = insertAttentionControl(m, { mode: 'log-additive', expectedLayers: 1 });
    const gqa = m.graph.nodes.find((n) => n.opType === 'GroupQueryAttention')!;
    expect(report.sites[0]!.kind).toBe('GroupQueryAttention');
    expect(gqa.inputs[10]).toMatch(/^atman\//);
  });

  it('fails clearly when the layer count differs from the config', () => {
    const m = decodeModel(new Uint8Array(readFileSync(CASES[0]!.file)));
    try {
      insertAttentionControl(m, { mode: 'multiplicative', expectedLayers: 12 });
      expect.unreachable();
    } catch (e) {
      expect(isAtmanError(e, 'LAYER_COUNT_MISMATCH')).toBe(true);
      expect((e as Error).message).toMatch(/Found 2 attention layers.*says 12/);
    }
  });

  it('fails clearly when there is no attention', () => {
    const g = emptyGraph();
    g.inputs.push(makeValueInfo('x', DataType.FLOAT, [1, 4]));
    g.initializers.push(makeTensor('w', DataType.FLOAT, [4, 4], new Float32Array(16)));
    g.nodes.push(makeNode('MatMul', ['x', 'w'], ['y']), makeNode('Softmax', ['y'], ['z'], { axis: -1 }));
    g.outputs.push(makeValueInfo('z', DataType.FLOAT, [1, 4]));
    const m: Model = { irVersion: 8n, opsets: [{ domain: '', version: 17 }], graph: g, rest: [] };
    expect(() => insertAttentionControl(m, { mode: 'multiplicative' })).toThrowError(expect.objectContaining({ code: 'NO_ATTENTION' }));
  });
});

/** A bare attention block: scores = q·kᵀ (optionally in fp16), Softmax, ·v. */
function bareAttention(opset: number, fp16: boolean): Model {
  const g = emptyGraph();
  const dims = ['batch', 2, 'seq', 4];
  g.inputs.push(makeValueInfo('q', DataType.FLOAT, dims), makeValueInfo('kt', DataType.FLOAT, ['batch', 2, 4, 'seq']), makeValueInfo('v', DataType.FLOAT, dims));
  const cast = (x: string) => (fp16 ? [makeNode('Cast', [x], [`${x}16`], { to: DataType.FLOAT16 })] : []);
  const n = (x: string) => (fp16 ? `${x}16` : x);
  g.nodes.push(...cast('q'), ...cast('kt'), ...cast('v'));
  g.nodes.push(makeNode('MatMul', [n('q'), n('kt')], ['scores']));
  g.nodes.push(makeNode('Softmax', ['scores'], ['probs'], { axis: -1 }));
  g.nodes.push(makeNode('MatMul', ['probs', n('v')], ['ctx']));
  g.nodes.push(makeNode('Cast', ['ctx'], ['logits'], { to: DataType.FLOAT }));
  g.outputs.push(makeValueInfo('logits', DataType.FLOAT, dims));
  return { irVersion: 8n, opsets: [{ domain: '', version: opset }], graph: g, rest: [] };
}

describe('opsets and dtypes', () => {
  const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 2);
  const variants = [[13, false], [18, false], [17, true]] as const;
  for (const [opset, fp16] of variants) for (const mode of ['multiplicative', 'log-additive'] as const) {
    it(`opset ${opset}${fp16 ? ', fp16 scores' : ''}: ${mode} matches the formula`, async () => {
      const m = bareAttention(opset, fp16);
      const report = insertAttentionControl(m, { mode });
      expect(report.sites).toHaveLength(1);
      const seq = 3;
      const q = rand(2 * seq * 4, 1);
      const kt = rand(2 * 4 * seq, 2);
      const v = rand(2 * seq * 4, 3);
      const phi = Float32Array.from([1, 0.1, 0]);
      const s = await ort.InferenceSession.create(encodeModel(m));
      const out = (await s.run({
        q: new ort.Tensor('float32', q, [1, 2, seq, 4]),
        kt: new ort.Tensor('float32', kt, [1, 2, 4, seq]),
        v: new ort.Tensor('float32', v, [1, 2, seq, 4]),
        [FACTORS_INPUT]: new ort.Tensor('float32', phi, [1, seq]),
      })).logits!.data as Float32Array;
      // Spec: s' = (s - min_row(s)) * phi (multiplicative) or s + max(log phi, -1e4), softmax, times v.
      const expected = new Float32Array(2 * seq * 4);
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < seq; i++) {
          const row = Array.from({ length: seq }, (_, k) => Array.from({ length: 4 }, (_, d) => q[(h * seq + i) * 4 + d]! * kt[(h * 4 + d) * seq + k]!).reduce((a, b) => a + b));
          const m0 = Math.min(...row);
          const e = row.map((x, k) => Math.exp(mode === 'multiplicative' ? (x - m0) * phi[k]! : x - m0 + Math.max(Math.log(phi[k]!), -1e4)));
          const z = e.reduce((a, b) => a + b);
          for (let d = 0; d < 4; d++) expected[(h * seq + i) * 4 + d] = e.reduce((acc, w, k) => acc + (w / z) * v[(h * seq + k) * 4 + d]!, 0);
        }
      }
      expect(maxAbsDiff(expected, out)).toBeLessThan(fp16 ? 2e-2 : 1e-5);
    });
  }
});
