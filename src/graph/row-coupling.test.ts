import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { dequantizeDynamicMatMuls } from './dequantize-dynamic-matmuls';
import { DataType, type Model, decodeModel, encodeModel } from './ir/onnx-ir';
import { emptyGraph, makeNode, makeTensor, makeValueInfo } from './ir/onnx-build';
import { findRowCoupling } from './row-coupling';

const load = (path: string) => decodeModel(readFileSync(path));

function tiny(nodes: ReturnType<typeof makeNode>[], inits: ReturnType<typeof makeTensor>[] = [], inputType = DataType.FLOAT): Model {
  const g = emptyGraph('g');
  g.inputs.push(makeValueInfo('x', inputType, [2, 3, 4]));
  g.outputs.push(makeValueInfo('y', DataType.FLOAT, null));
  g.nodes.push(...nodes);
  g.initializers.push(...inits);
  return { irVersion: 8n, opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }], graph: g, rest: [] };
}

describe('findRowCoupling', () => {
  it('names every DynamicQuantizeLinear of the q8 fixtures, and nothing in the fp32 and q4 graphs', () => {
    const q8 = findRowCoupling(load('fixtures/models/tiny-gpt2-kv/onnx/model_quantized.onnx'));
    // per layer: c_attn, attn c_proj, c_fc, mlp c_proj inputs; then the LM head's
    expect(q8.map((o) => o.opType)).toEqual(new Array(9).fill('DynamicQuantizeLinear'));
    expect(q8[0]!.why).toMatch(/one scale/);
    // Llama's q/k/v (and gate/up) share one quantized input: 2 layers x 4 + LM head.
    expect(findRowCoupling(load('fixtures/models/tiny-llama/onnx/model_quantized.onnx'))).toHaveLength(9);
    for (const f of ['tiny-gpt2/onnx/model.onnx', 'tiny-gpt2/onnx/model_q4.onnx', 'tiny-llama/onnx/model.onnx', 'tiny-llama-gqa/onnx/model.onnx', 'tiny-vit-gpt2/onnx/decoder_model_merged.onnx']) {
      expect(findRowCoupling(load(`fixtures/models/${f}`))).toEqual([]);
    }
  });

  it('flags whole-tensor reductions of activations and batch statistics, not per-row reductions or shape arithmetic', () => {
    const axes = makeTensor('axes', DataType.INT64, [1], BigInt64Array.of(-1n));
    const cases: Array<[ReturnType<typeof makeNode>, boolean, DataType?]> = [
      [makeNode('ReduceMean', ['x'], ['y']), true],
      [makeNode('ReduceMax', ['x'], ['y'], { axes: [-1] }), false],
      [makeNode('ReduceMax', ['x', 'axes'], ['y']), false],
      [makeNode('ReduceSum', ['x'], ['y'], { noop_with_empty_axes: 1 }), false],
      [makeNode('ReduceProd', ['x'], ['y']), false, DataType.INT64],
      [makeNode('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], { training_mode: 1 }), true],
      [makeNode('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y']), false],
      [makeNode('DynamicQuantizeMatMul', ['x', 'w', 's', 'z'], ['y'], {}, { domain: 'com.microsoft' }), true],
    ];
    for (const [node, flagged, type] of cases) expect(findRowCoupling(tiny([node], [axes], type)).length > 0, node.opType).toBe(flagged);
  });
});

describe('dequantizeDynamicMatMuls', () => {
  const ids = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0]!.length]);
  const run = async (m: Model, rows: number[][]) => {
    const s = await ort.InferenceSession.create(encodeModel(m));
    const n = rows[0]!.length;
    const f: Record<string, ort.Tensor> = { input_ids: ids(rows), attention_mask: ids(rows.map((r) => r.map(() => 1))), position_ids: ids(rows.map((r) => r.map((_, i) => i))) };
    for (const name of s.inputNames) if (name.startsWith('past')) f[name] = new ort.Tensor('float32', new Float32Array(0), [rows.length, 2, 0, 16]);
    const out = (await s.run(f)).logits!;
    await s.release();
    return { data: out.data as Float32Array, V: out.dims[2]!, n };
  };

  it('turns the q8 GPT-2 into float MatMuls over the 8-bit weights: rows independent, close to the quantized model', async () => {
    const q8 = load('fixtures/models/tiny-gpt2-kv/onnx/model_quantized.onnx');
    const variant = load('fixtures/models/tiny-gpt2-kv/onnx/model_quantized.onnx');
    expect(dequantizeDynamicMatMuls(variant)).toMatchObject({ rewritten: 9, remaining: 0 });
    expect(findRowCoupling(variant)).toEqual([]);
    expect(variant.graph.nodes.some((n) => n.opType === 'MatMulInteger' || n.opType === 'DynamicQuantizeLinear')).toBe(false);
    const a = [5, 9, 14, 2, 7, 11];
    const b = [30, 1, 8, 8, 3, 21];
    const alone = await run(variant, [a]);
    const batched = await run(variant, [a, b]);
    for (let i = 0; i < alone.data.length; i++) expect(batched.data[i]).toBe(alone.data[i]);
    const quantized = await run(q8, [a]);
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < alone.data.length; i++) {
      diff = Math.max(diff, Math.abs(alone.data[i]! - quantized.data[i]!));
      scale = Math.max(scale, Math.abs(quantized.data[i]!));
    }
    expect(diff).toBeGreaterThan(0);
    expect(diff / scale).toBeLessThan(0.1);
  });

  it('rewrites a fused DynamicQuantizeMatMul with bias into MatMul + Add over the dequantized weight', async () => {
    const K = 4;
    const N = 3;
    const wq = Int8Array.from({ length: K * N }, (_, i) => ((i * 37) % 255) - 127);
    const m = tiny(
      [makeNode('DynamicQuantizeMatMul', ['x', 'w', 'ws', 'wz', 'bias'], ['y'], {}, { domain: 'com.microsoft' })],
      [
        makeTensor('w', DataType.INT8, [K, N], wq),
        makeTensor('ws', DataType.FLOAT, [], Float32Array.of(0.02)),
        makeTensor('wz', DataType.INT8, [], Int8Array.of(0)),
        makeTensor('bias', DataType.FLOAT, [N], Float32Array.of(0.5, -1, 2)),
      ],
    );
    expect(dequantizeDynamicMatMuls(m)).toMatchObject({ rewritten: 1, remaining: 0 });
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['DequantizeLinear', 'MatMul', 'Add']);
    const x = Float32Array.from({ length: 2 * 3 * K }, (_, i) => Math.sin(i));
    // 'basic': at 'extended' onnxruntime fuses DequantizeLinear + MatMul into MatMulNBits, which quantizes activations per row block.
    const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'basic' });
    const y = (await s.run({ x: new ort.Tensor('float32', x, [2, 3, K]) })).y!.data as Float32Array;
    await s.release();
    for (let r = 0; r < 6; r++) {
      for (let n = 0; n < N; n++) {
        let want = [0.5, -1, 2][n]!;
        for (let k = 0; k < K; k++) want += x[r * K + k]! * wq[k * N + n]! * Math.fround(0.02);
        expect(y[r * N + n]).toBeCloseTo(want, 5);
      }
    }
  });
});
