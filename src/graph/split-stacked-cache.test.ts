// The split graph computes what the stacked one does: same logits, same cache, whether the cache
// comes in empty or filled, at batch 1 and 2 (onnxruntime's optimizer output for GPT-2, and a
// bare opset-18 graph for the other Unsqueeze form).
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { DataType, decodeModel, encodeModel, type Model } from './ir/onnx-ir';
import { emptyGraph, makeNode, makeTensor, makeValueInfo } from './ir/onnx-build';
import { splitStackedCache } from './split-stacked-cache';

const GPT2 = 'fixtures/third-party/ortgenai-tiny-random-gpt2-fp32/past.onnx';
const LAYERS = 5;
const H = 4;
const D = 8;

const original = new Uint8Array(readFileSync(GPT2));
const split = decodeModel(original);
const report = splitStackedCache(split);
const sessions: ort.InferenceSession[] = [];
afterAll(async () => Promise.all(sessions.map((s) => s.release())));
async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  const s = await ort.InferenceSession.create(bytes);
  sessions.push(s);
  return s;
}

const i32 = (rows: number[][]) => new ort.Tensor('int32', Int32Array.from(rows.flat()), [rows.length, rows[0]!.length]);
type Cache = Array<{ key: ort.Tensor; value: ort.Tensor }>;

/** One step over `ids` (rows of one length) after `past` positions whose cache is given (or empty). */
function feeds(ids: number[][], pastLength: number, cache: Cache | null, stacked: boolean): Record<string, ort.Tensor> {
  const B = ids.length;
  const S = ids[0]!.length;
  const f: Record<string, ort.Tensor> = {
    input_ids: i32(ids),
    position_ids: i32(ids.map((r) => r.map((_, i) => pastLength + i))),
    attention_mask: i32(ids.map(() => Array<number>(pastLength + S).fill(1))),
  };
  for (let l = 0; l < LAYERS; l++) {
    const key = cache?.[l]?.key ?? new ort.Tensor('float32', new Float32Array(0), [B, H, 0, D]);
    const value = cache?.[l]?.value ?? new ort.Tensor('float32', new Float32Array(0), [B, H, 0, D]);
    if (stacked) {
      const k = key.data as Float32Array;
      const both = new Float32Array(2 * k.length);
      both.set(k);
      both.set(value.data as Float32Array, k.length);
      f[`past_${l}`] = new ort.Tensor('float32', both, [2, ...key.dims]);
    } else {
      f[`past_key_values.${l}.key`] = key;
      f[`past_key_values.${l}.value`] = value;
    }
  }
  return f;
}

/** The cache a step returned, as separate key and value tensors whichever graph returned it. */
function cacheOf(out: ort.InferenceSession.OnnxValueMapType, stacked: boolean): Cache {
  return Array.from({ length: LAYERS }, (_, l) => {
    if (!stacked) return { key: out[`present.${l}.key`]!, value: out[`present.${l}.value`]! };
    const t = out[`present_${l}`]!;
    const half = (t.data as Float32Array).length / 2;
    const dims = t.dims.slice(1);
    return {
      key: new ort.Tensor('float32', (t.data as Float32Array).slice(0, half), dims),
      value: new ort.Tensor('float32', (t.data as Float32Array).slice(half), dims),
    };
  });
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('splitStackedCache on the onnxruntime-optimized GPT-2', () => {
  it('replaces every stacked past_N / present_N by key and value tensors [batch, heads, length, headDim]', () => {
    expect(report.layers.map((l) => l.stacked)).toEqual(Array.from({ length: LAYERS }, (_, l) => `past_${l}`));
    const inputs = split.graph.inputs.map((v) => v.name);
    const outputs = split.graph.outputs.map((v) => v.name);
    expect(inputs.some((n) => /^past_\d+$/.test(n))).toBe(false);
    expect(outputs.some((n) => /^present_\d+$/.test(n))).toBe(false);
    for (let l = 0; l < LAYERS; l++) {
      const key = split.graph.inputs.find((v) => v.name === `past_key_values.${l}.key`)!;
      expect(key.dims).toEqual(['batch_size', H, 'past_seq_len', D]);
      expect(key.elemType).toBe(DataType.FLOAT);
      expect(split.graph.outputs.find((v) => v.name === `present.${l}.value`)!.dims).toEqual(['batch_size', H, 'total_seq_len', D]);
      expect(report.layers[l]!.present).toEqual({ stacked: `present_${l}`, key: `present.${l}.key`, value: `present.${l}.value` });
    }
    expect(outputs[0]).toBe('logits');
  });

  for (const batch of [1, 2]) {
    it(`batch ${batch}: the same logits and cache as the stacked graph, with an empty past and with a past of 4`, async () => {
      const [a, b] = [await session(original), await session(encodeModel(split))];
      const rows = [
        [17, 250, 999, 3, 98, 401, 77, 12, 640],
        [5, 900, 31, 31, 432, 0, 58, 211, 702],
      ].slice(0, batch);
      const P = 4;
      // past 0: the whole sequence
      const fullA = await a.run(feeds(rows, 0, null, true));
      const fullB = await b.run(feeds(rows, 0, null, false));
      expect(maxDiff(fullA.logits!.data as Float32Array, fullB.logits!.data as Float32Array)).toBe(0);
      cacheOf(fullA, true).forEach((c, l) => {
        const other = cacheOf(fullB, false)[l]!;
        expect(other.key.dims).toEqual([batch, H, rows[0]!.length, D]);
        expect(maxDiff(c.key.data as Float32Array, other.key.data as Float32Array)).toBe(0);
        expect(maxDiff(c.value.data as Float32Array, other.value.data as Float32Array)).toBe(0);
      });
      // past 4: the prefix, then the rest fed each graph's own cache
      const prefix = rows.map((r) => r.slice(0, P));
      const rest = rows.map((r) => r.slice(P));
      const pastA = cacheOf(await a.run(feeds(prefix, 0, null, true)), true);
      const pastB = cacheOf(await b.run(feeds(prefix, 0, null, false)), false);
      const stepA = await a.run(feeds(rest, P, pastA, true));
      const stepB = await b.run(feeds(rest, P, pastB, false));
      const logitsA = stepA.logits!.data as Float32Array;
      expect(maxDiff(logitsA, stepB.logits!.data as Float32Array)).toBe(0);
      cacheOf(stepA, true).forEach((c, l) => {
        const other = cacheOf(stepB, false)[l]!;
        expect(other.key.dims).toEqual([batch, H, rows[0]!.length, D]);
        expect(maxDiff(c.key.data as Float32Array, other.key.data as Float32Array)).toBe(0);
        expect(maxDiff(c.value.data as Float32Array, other.value.data as Float32Array)).toBe(0);
      });
      // and the cache really is used: the rest's logits are the full pass's last rows
      const V = 1000;
      const full = fullA.logits!.data as Float32Array;
      const S = rows[0]!.length;
      for (let bi = 0; bi < batch; bi++) {
        const want = full.subarray((bi * S + P) * V, (bi + 1) * S * V);
        const got = logitsA.subarray(bi * (S - P) * V, (bi + 1) * (S - P) * V);
        expect(maxDiff(want, got)).toBeLessThan(1e-5);
      }
    });
  }
});

describe('splitStackedCache on other graphs', () => {
  it('leaves a graph with separate key and value caches alone', () => {
    const m = decodeModel(new Uint8Array(readFileSync('fixtures/third-party/ortgenai-tiny-qwen-gqa-fp16/decoder.onnx')));
    const before = encodeModel(m);
    expect(splitStackedCache(m).layers).toEqual([]);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(before))).toBe(0);
  });

  it('uses the opset-13 Unsqueeze (axes as an input) where the graph asks for it', async () => {
    // present_0 = 2 * past_0, stacked, at opset 18
    const g = emptyGraph();
    g.inputs.push(makeValueInfo('past_0', DataType.FLOAT, [2, 'batch', 2, 'past', 3]));
    g.outputs.push(makeValueInfo('present_0', DataType.FLOAT, [2, 'batch', 2, 'past', 3]));
    g.initializers.push(makeTensor('two', DataType.FLOAT, [], new Float32Array([2])));
    g.nodes.push(makeNode('Mul', ['past_0', 'two'], ['present_0']));
    const m: Model = { irVersion: 9n, opsets: [{ domain: '', version: 18 }], graph: g, rest: [] };
    const r = splitStackedCache(m);
    expect(r.layers).toHaveLength(1);
    expect(g.nodes.filter((n) => n.opType === 'Unsqueeze').every((n) => n.inputs.length === 2 && n.attributes.length === 0)).toBe(true);
    const s = await session(encodeModel(m));
    const key = Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i);
    const value = Float32Array.from(key, (x) => -x - 0.5);
    const out = await s.run({
      'past_key_values.0.key': new ort.Tensor('float32', key, [1, 2, 2, 3]),
      'past_key_values.0.value': new ort.Tensor('float32', value, [1, 2, 2, 3]),
    });
    expect(Array.from(out['present.0.key']!.data as Float32Array)).toEqual(Array.from(key, (x) => 2 * x));
    expect(Array.from(out['present.0.value']!.data as Float32Array)).toEqual(Array.from(value, (x) => 2 * x));
    expect(out['present.0.value']!.dims).toEqual([1, 2, 2, 3]);
  });
});
