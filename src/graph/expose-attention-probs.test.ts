import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { isAtmanError } from '../core/errors';
import { loadGpt2Fixture } from '../testing/reference-gpt2';
import { referenceAttention } from '../testing/reference-attention';
import { attentionOutputName, exposeAttentionProbs } from './expose-attention-probs';
import { DataType, type Model, decodeModel, encodeModel } from './ir/onnx-ir';
import { emptyGraph, makeNode, makeValueInfo } from './ir/onnx-build';

const OWN = 'fixtures/models';
const TORCH = '../shared/fixtures/torch-export';
const IDS = [3, 17, 42, 5, 17, 9];
const S = IDS.length;

function feedsFor(m: Model, kvHeads = 2, headDim = 8): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const row = (f: (i: number) => bigint) => new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => f(i)), [1, S]);
  for (const v of m.graph.inputs) {
    if (v.name === 'input_ids') feeds[v.name] = row((i) => BigInt(IDS[i]!));
    else if (v.name === 'attention_mask') feeds[v.name] = row(() => 1n);
    else if (v.name === 'position_ids') feeds[v.name] = row((i) => BigInt(i));
    else if (v.name === 'use_cache_branch') feeds[v.name] = new ort.Tensor('bool', [false], [1]);
    else if (v.name.startsWith('past_key_values')) feeds[v.name] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
    else throw new Error(`unexpected input ${v.name}`);
  }
  return feeds;
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, fetches: string[]): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    return await s.run(feeds, fetches);
  } finally {
    await s.release();
  }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

/** Each [heads, S, S] block: rows sum to 1, nothing above the diagonal. */
function expectCausalProbs(t: ort.Tensor, heads: number): void {
  expect(t.dims).toEqual([1, heads, S, S]);
  const p = t.data as Float32Array;
  for (let h = 0; h < heads; h++) {
    for (let q = 0; q < S; q++) {
      let sum = 0;
      for (let k = 0; k < S; k++) {
        const x = p[(h * S + q) * S + k]!;
        if (k > q) expect(x).toBe(0);
        sum += x;
      }
      expect(sum).toBeCloseTo(1, 5);
    }
  }
}

describe('exposeAttentionProbs', () => {
  it('tiny-gpt2: the exposed probabilities equal an independent float64 forward pass, logits unchanged', async () => {
    const bytes = new Uint8Array(readFileSync(`${OWN}/tiny-gpt2/onnx/model.onnx`));
    const m = decodeModel(bytes);
    const report = exposeAttentionProbs(m, { expectedLayers: 2 });
    expect(report.outputs.map((o) => o.output)).toEqual([attentionOutputName(0), attentionOutputName(1)]);
    const out = await run(encodeModel(m), feedsFor(m), ['logits', ...report.outputs.map((o) => o.output)]);
    const original = await run(bytes, feedsFor(decodeModel(bytes)), ['logits']);
    expect(maxAbsDiff(out.logits!.data as Float32Array, original.logits!.data as Float32Array)).toBe(0);

    const ref = referenceAttention(loadGpt2Fixture(`${OWN}/tiny-gpt2`), IDS);
    for (const l of [0, 1]) {
      const got = out[attentionOutputName(l)]!;
      expect(got.dims).toEqual([1, 2, S, S]);
      expect(maxAbsDiff(got.data as Float32Array, ref.probs[l]!)).toBeLessThan(1e-5);
    }
    // not trivially uniform, so the comparison means something
    expect(maxAbsDiff(ref.probs[0]!, ref.probs[1]!)).toBeGreaterThan(1e-2);
  });

  it('exposes only the chosen layers', () => {
    const m = decodeModel(new Uint8Array(readFileSync(`${OWN}/tiny-gpt2/onnx/model.onnx`)));
    const report = exposeAttentionProbs(m, { layers: [1] });
    expect(report.outputs.map((o) => o.layer)).toEqual([1]);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['logits', attentionOutputName(1)]);
    expect(() => exposeAttentionProbs(decodeModel(new Uint8Array(readFileSync(`${OWN}/tiny-gpt2/onnx/model.onnx`))), { layers: [2] })).toThrowError(
      expect.objectContaining({ code: 'BAD_SETTING' }),
    );
  });

  for (const [name, heads] of [['tiny-llama', 4], ['tiny-llama-sdpa', 4]] as const) {
    it(`${name}: causal, normalised probabilities; logits unchanged`, async () => {
      const bytes = new Uint8Array(readFileSync(`${OWN}/${name}/onnx/model.onnx`));
      const m = decodeModel(bytes);
      const report = exposeAttentionProbs(m);
      expect(report.layerCount).toBe(2);
      const out = await run(encodeModel(m), feedsFor(m), ['logits', ...report.outputs.map((o) => o.output)]);
      const original = await run(bytes, feedsFor(decodeModel(bytes)), ['logits']);
      expect(maxAbsDiff(out.logits!.data as Float32Array, original.logits!.data as Float32Array)).toBe(0);
      for (const o of report.outputs) expectCausalProbs(out[o.output]!, heads);
    });
  }

  it('merged decoder: outputs come out of both If branches', async () => {
    const bytes = new Uint8Array(readFileSync(`${TORCH}/tiny_merged.onnx`));
    const m = decodeModel(bytes);
    const report = exposeAttentionProbs(m, { expectedLayers: 2 });
    expect(report.outputs.every((o) => o.nodes.length === 2)).toBe(true);
    const ifNode = m.graph.nodes.find((n) => n.opType === 'If')!;
    for (const a of ifNode.attributes.filter((x) => x.g)) expect(a.g!.outputs.length).toBe(ifNode.outputs.length);
    const out = await run(encodeModel(m), feedsFor(m), ['logits', ...report.outputs.map((o) => o.output)]);
    const original = await run(bytes, feedsFor(decodeModel(bytes)), ['logits']);
    expect(maxAbsDiff(out.logits!.data as Float32Array, original.logits!.data as Float32Array)).toBe(0);
    for (const o of report.outputs) expectCausalProbs(out[o.output]!, out[o.output]!.dims[1]!);
  });

  it('fp16 probabilities come out as float32', async () => {
    const g = emptyGraph();
    g.inputs.push(makeValueInfo('scores', DataType.FLOAT, [1, 1, 2, 2]), makeValueInfo('k', DataType.FLOAT, [1, 1, 2, 2]), makeValueInfo('v', DataType.FLOAT, [1, 1, 2, 2]));
    g.nodes.push(
      makeNode('Cast', ['scores'], ['s16'], { to: DataType.FLOAT16 }),
      makeNode('Cast', ['k'], ['k16'], { to: DataType.FLOAT16 }),
      makeNode('Cast', ['v'], ['v16'], { to: DataType.FLOAT16 }),
      makeNode('MatMul', ['s16', 'k16'], ['qk']),
      makeNode('Softmax', ['qk'], ['p'], { axis: -1 }),
      makeNode('MatMul', ['p', 'v16'], ['ctx']),
      makeNode('Cast', ['ctx'], ['logits'], { to: DataType.FLOAT }),
    );
    g.outputs.push(makeValueInfo('logits', DataType.FLOAT, [1, 1, 2, 2]));
    const m: Model = { irVersion: 8n, opsets: [{ domain: '', version: 17 }], graph: g, rest: [] };
    exposeAttentionProbs(m);
    const x = new ort.Tensor('float32', Float32Array.from([1, 0, 0, 1]), [1, 1, 2, 2]);
    const k = new ort.Tensor('float32', Float32Array.from([2, 0, 0, 0]), [1, 1, 2, 2]);
    const out = await run(encodeModel(m), { scores: x, k, v: x }, [attentionOutputName(0)]);
    const p = out[attentionOutputName(0)]!;
    expect(p.type).toBe('float32');
    // row 0: softmax([2, 0]); row 1: softmax([0, 0])
    const e = Math.exp(2) / (Math.exp(2) + 1);
    expect(maxAbsDiff(p.data as Float32Array, [e, 1 - e, 0.5, 0.5])).toBeLessThan(1e-3);
  });

  it('refuses fused GroupQueryAttention with a typed error naming the op', () => {
    const m = decodeModel(new Uint8Array(readFileSync(`${OWN}/tiny-llama-gqa/onnx/model.onnx`)));
    try {
      exposeAttentionProbs(m);
      expect.unreachable();
    } catch (e) {
      expect(isAtmanError(e, 'FUSED_ATTENTION_NO_PROBS')).toBe(true);
      expect((e as Error).message).toMatch(/GroupQueryAttention/);
    }
  });
});
