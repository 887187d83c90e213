import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataType, type Graph, decodeModel, tensorPayload } from '../../graph/ir/onnx-ir';
import { emptyGraph, makeNode, makeTensor, makeValueInfo } from '../../graph/ir/onnx-build';
import { findTokenEmbedding, halfToFloat } from './embeddings';

const V = 5;
const D = 3;
const table = Float32Array.from({ length: V * D }, (_, i) => Math.sin(i + 1));
const none = () => undefined;

function graphWith(build: (g: Graph) => void): Graph {
  const g = emptyGraph();
  g.inputs.push(makeValueInfo('input_ids', DataType.INT64, ['batch', 'seq']));
  build(g);
  return g;
}

describe('findTokenEmbedding', () => {
  it('reads float32 rows of the Gather on input_ids', () => {
    const g = graphWith((g) => {
      g.initializers.push(makeTensor('wte', DataType.FLOAT, [V, D], table));
      g.nodes.push(makeNode('Gather', ['wte', 'input_ids'], ['h']));
    });
    expect(Array.from(findTokenEmbedding(g, none)!.row(2))).toEqual(Array.from(table.subarray(6, 9)));
  });

  it('dequantizes a uint8 table gathered before DequantizeLinear (per-tensor scale and zero point)', () => {
    const scale = 0.02;
    const zp = 128;
    const q = Uint8Array.from(table, (x) => Math.round(x / scale) + zp);
    const g = graphWith((g) => {
      g.initializers.push(
        makeTensor('wte_q', DataType.UINT8, [V, D], q),
        makeTensor('s', DataType.FLOAT, [], new Float32Array([scale])),
        makeTensor('z', DataType.UINT8, [], new Uint8Array([zp])),
      );
      g.nodes.push(makeNode('Gather', ['wte_q', 'input_ids'], ['hq']), makeNode('DequantizeLinear', ['hq', 's', 'z'], ['h']));
    });
    const row = findTokenEmbedding(g, none)!.row(4);
    row.forEach((v, j) => expect(v).toBeCloseTo(table[4 * D + j]!, 1));
    row.forEach((v, j) => expect(v).toBeCloseTo((q[4 * D + j]! - zp) * scale, 6));
  });

  it('dequantizes an int8 table with per-row scales before the Gather', () => {
    const scales = Float32Array.from({ length: V }, (_, r) => 0.01 * (r + 1));
    const q = Int8Array.from(table, (x, i) => Math.round(x / scales[Math.floor(i / D)]!));
    const g = graphWith((g) => {
      g.initializers.push(makeTensor('wq', DataType.INT8, [V, D], q), makeTensor('s', DataType.FLOAT, [V], scales));
      g.nodes.push(makeNode('DequantizeLinear', ['wq', 's'], ['w'], { axis: 0 }), makeNode('Gather', ['w', 'input_ids'], ['h']));
    });
    const row = findTokenEmbedding(g, none)!.row(3);
    row.forEach((v, j) => expect(v).toBeCloseTo(q[3 * D + j]! * scales[3]!, 6));
  });

  it('returns null when the table cannot be read', () => {
    const g = graphWith((g) => g.nodes.push(makeNode('Gather', ['computed', 'input_ids'], ['h'])));
    expect(findTokenEmbedding(g, none)).toBeNull();
  });

  it('converts half floats', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBeCloseTo(5.96e-8, 10);
  });
});

describe('merged decoders', () => {
  it('finds the table inside If branches (optimum and torch merged exports)', () => {
    for (const [file, dim] of [
      ['fixtures/models/tiny-vit-gpt2/onnx/decoder_model_merged.onnx', 32],
      ['../shared/fixtures/torch-export/tiny_merged.onnx', 32],
    ] as const) {
      const m = decodeModel(new Uint8Array(readFileSync(file)));
      expect(m.graph.nodes.some((n) => n.opType === 'If')).toBe(true);
      expect(findTokenEmbedding(m.graph, () => undefined)?.dim, file).toBe(dim);
    }
  });
});

describe('graphs written by onnxruntime tools', () => {
  /** Row `id` of a named initializer, read straight from its bytes. */
  const rowOf = (g: Graph, name: string, id: number): number[] => {
    const t = g.initializers.find((x) => x.name === name)!;
    const raw = tensorPayload(t).rawData!;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const dim = t.dims[1]!;
    const fp16 = t.dataType === DataType.FLOAT16;
    return Array.from({ length: dim }, (_, j) => (fp16 ? halfToFloat(view.getUint16((id * dim + j) * 2, true)) : view.getFloat32((id * dim + j) * 4, true)));
  };

  it('reads the word table of EmbedLayerNormalization (input 2), not its position table', () => {
    const g = decodeModel(new Uint8Array(readFileSync('fixtures/third-party/ortgenai-tiny-random-gpt2-fp32/past.onnx'))).graph;
    const eln = g.nodes.find((n) => n.opType === 'EmbedLayerNormalization')!;
    expect(eln.inputs[2]).toBe('transformer.wte.weight');
    expect(g.nodes.some((n) => n.opType === 'Gather')).toBe(false);
    const table = findTokenEmbedding(g, none)!;
    expect(table.dim).toBe(32);
    for (const id of [0, 98, 511, 999]) expect(Array.from(table.row(id))).toEqual(rowOf(g, 'transformer.wte.weight', id));
    expect(Array.from(table.row(3))).not.toEqual(rowOf(g, 'transformer.wpe.weight', 3));
  });

  it('reads the fp16 table of the GroupQueryAttention decoder (a Gather on int32 input_ids)', () => {
    const g = decodeModel(new Uint8Array(readFileSync('fixtures/third-party/ortgenai-tiny-qwen-gqa-fp16/decoder.onnx'))).graph;
    const table = findTokenEmbedding(g, none)!;
    expect(table.dim).toBe(64);
    for (const id of [0, 1, 500, 999]) expect(Array.from(table.row(id))).toEqual(rowOf(g, 'embed_tokens.weight', id));
    expect(table.row(500).some((x) => x !== 0)).toBe(true);
  });
});
