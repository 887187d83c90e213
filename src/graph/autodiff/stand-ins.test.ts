// The two stand-ins the gradient graphs use where the model as shipped has no gradient or no
// float32 form: q8 products as float MatMuls over the dequantized weights, and fp16 graphs computing
// in float32. Each is checked by running the rewritten graph in onnxruntime.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { dequantizeDynamicMatMuls } from '../dequantize-dynamic-matmuls';
import { inferElemTypes } from '../ir/graph-utils';
import { DataType, decodeModel, encodeModel, type Model } from '../ir/onnx-ir';
import { gpt2Fixture } from '../../testing/gradient-fixtures';
import { upcastHalf } from './upcast-half';
import { weightsAsFloatOps } from './weights-as-float-ops';

const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);

async function logits(m: Model, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(m));
  try {
    const all: Record<string, ort.Tensor> = { ...feeds };
    for (const v of m.graph.inputs) {
      if (v.name.startsWith('past')) all[v.name] = new ort.Tensor(v.elemType === DataType.FLOAT16 ? 'float16' : 'float32', v.elemType === DataType.FLOAT16 ? new Uint16Array(0) : new Float32Array(0), [1, v.dims![1] as number, 0, v.dims![3] as number]);
    }
    const out = (await s.run(all)).logits!;
    const d = out.data;
    return d instanceof Float32Array ? d : Float32Array.from(d as Uint16Array, halfBits);
  } finally {
    await s.release();
  }
}

function halfBits(h: number): number {
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  const v = e === 0 ? f * 2 ** -24 : (1 + f / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('q8 products as float MatMuls over the dequantized weights', () => {
  const dir = 'fixtures/models/tiny-gpt2-kv';
  const ids = [5, 17, 42, 99, 7];
  const feeds = { input_ids: i64(ids), attention_mask: i64(ids.map(() => 1)), position_ids: i64(ids.map((_, i) => i)) };
  const fx = gpt2Fixture(dir, { file: 'model_quantized.onnx' });
  const reference = fx.logits(ids)(ids.map(fx.embedding));
  const load = () => decodeModel(new Uint8Array(readFileSync(`${dir}/onnx/model_quantized.onnx`)));

  it('equal the float64 model over the dequantized weights once the weights are float ops', async () => {
    const m = load();
    expect(dequantizeDynamicMatMuls(m)).toMatchObject({ rewritten: 9, remaining: 0 });
    expect(weightsAsFloatOps(m)).toBe(9);
    expect(m.graph.nodes.some((n) => n.opType === 'DequantizeLinear' && n.inputs[0]!.endsWith('_quantized') && !n.inputs[0]!.startsWith('/'))).toBe(false);
    expect(maxDiff(await logits(m, feeds), reference)).toBeLessThan(1e-5);
  });

  it("do not while the weights are DequantizeLinear nodes (onnxruntime fuses them back into products that round the activations)", async () => {
    const m = load();
    dequantizeDynamicMatMuls(m);
    expect(maxDiff(await logits(m, feeds), reference)).toBeGreaterThan(1e-3);
  });
});

describe('upcastHalf', () => {
  it('leaves no fp16 value, takes and gives float32, and computes what the fp16 graph computes', async () => {
    const file = 'fixtures/models/ortgenai-tiny-qwen-gqa/onnx/model_fp16.onnx';
    const bytes = new Uint8Array(readFileSync(file));
    const m = decodeModel(bytes);
    const report = upcastHalf(m);
    expect(report.constants).toBeGreaterThan(20);
    expect(report.io).toEqual(expect.arrayContaining(['logits', 'past_key_values.0.key']));
    expect([...inferElemTypes(m.graph).entries()].filter(([n, t]) => t === DataType.FLOAT16 && !m.graph.initializers.some((i) => i.name === n))).toEqual([]);
    const ids = [5, 17, 42, 99, 7];
    const feeds = { input_ids: new ort.Tensor('int32', Int32Array.from(ids), [1, 5]), attention_mask: i64(ids.map(() => 1)) };
    const up = await logits(m, feeds);
    const half = await logits(decodeModel(bytes), feeds);
    const scale = Math.max(...Array.from(half, Math.abs));
    // fp16 kernels round every intermediate to three decimal digits; float32 does not
    console.log(`fp16 graph against its float32 upcast: ${(maxDiff(up, half) / scale).toExponential(2)} of the largest logit`);
    expect(maxDiff(up, half) / scale).toBeLessThan(1e-2);
    expect(maxDiff(up, half)).toBeGreaterThan(0);
  });

  it('leaves a float32 graph alone', () => {
    const m = decodeModel(new Uint8Array(readFileSync('fixtures/models/tiny-gpt2/onnx/model.onnx')));
    expect(upcastHalf(m)).toEqual({ pass: 'upcastHalf', constants: 0, casts: 0, io: [] });
  });
});
