// GatherBlockQuantized tables read row by row must equal what onnxruntime's own kernel gathers.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DataType, type Model, encodeModel } from '../../graph/ir/onnx-ir';
import { emptyGraph, makeNode, makeTensor, makeValueInfo } from '../../graph/ir/onnx-build';
import { findTokenEmbedding } from './embeddings';

const V = 6;
const D = 40; // not a multiple of the block: the last block is short
const BLOCK = 16;
const BLOCKS = Math.ceil(D / BLOCK);

/** deterministic pseudo-random integers in [0, n) */
const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % 65536;

function pack(values: number[], bits: number, perRow: number, rows: number): Uint8Array {
  const perByte = 8 / bits;
  const rowBytes = Math.ceil(perRow / perByte);
  const out = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < perRow; j++) {
      const v = values[r * perRow + j]! & ((1 << bits) - 1);
      out[r * rowBytes + Math.floor(j / perByte)]! |= v << ((j % perByte) * bits);
    }
  }
  return out;
}

interface Case {
  name: string;
  dataType: DataType;
  bits: number;
  zeros: boolean;
}

function buildModel(c: Case): Model {
  const r = rand(c.bits * 7 + (c.zeros ? 1 : 0) + c.dataType);
  const levels = 1 << c.bits;
  const q = Array.from({ length: V * D }, () => r() % levels);
  const scales = Float32Array.from({ length: V * BLOCKS }, () => 0.001 + (r() % 1000) / 20000);
  const g = emptyGraph();
  g.inputs.push(makeValueInfo('input_ids', DataType.INT64, [1, 'seq']));
  g.outputs.push(makeValueInfo('h', DataType.FLOAT, [1, 'seq', D]));
  const u8 = c.dataType === DataType.UINT8;
  const data = u8 ? pack(q, c.bits, D, V) : pack(q, 4, V * D, 1);
  g.initializers.push(
    makeTensor('wte_q', c.dataType, u8 ? [V, Math.ceil(D / (8 / c.bits))] : [V, D], data),
    makeTensor('wte_scales', DataType.FLOAT, [V, BLOCKS], scales),
  );
  const inputs = ['wte_q', 'input_ids', 'wte_scales'];
  if (c.zeros) {
    const z = Array.from({ length: V * BLOCKS }, () => r() % levels);
    const zp = u8 ? pack(z, c.bits, BLOCKS, V) : pack(z, 4, V * BLOCKS, 1);
    g.initializers.push(makeTensor('wte_zp', c.dataType, u8 ? [V, Math.ceil(BLOCKS / (8 / c.bits))] : [V, BLOCKS], zp));
    inputs.push('wte_zp');
  }
  const attrs: Record<string, number> = { gather_axis: 0, quantize_axis: 1, block_size: BLOCK };
  if (u8) attrs.bits = c.bits;
  g.nodes.push(makeNode('GatherBlockQuantized', inputs, ['h'], attrs, { domain: 'com.microsoft' }));
  return { irVersion: 10n, opsets: [{ domain: '', version: 21 }, { domain: 'com.microsoft', version: 1 }], graph: g, rest: [] };
}

const CASES: Case[] = [
  { name: 'uint8 storage, 4 bits, no zero points (centred on 8)', dataType: DataType.UINT8, bits: 4, zeros: false },
  { name: 'uint8 storage, 4 bits, packed zero points', dataType: DataType.UINT8, bits: 4, zeros: true },
  { name: 'uint8 storage, 8 bits, zero points', dataType: DataType.UINT8, bits: 8, zeros: true },
  { name: 'int4 storage, no zero points', dataType: DataType.INT4, bits: 4, zeros: false },
  { name: 'uint4 storage, zero points', dataType: DataType.UINT4, bits: 4, zeros: true },
];

describe('findTokenEmbedding on GatherBlockQuantized', () => {
  it.each(CASES)('$name: rows equal onnxruntime', async (c) => {
    const model = buildModel(c);
    const table = findTokenEmbedding(model.graph, () => undefined);
    expect(table?.dim).toBe(D);
    const ids = [0, 3, 5, 1];
    const session = await ort.InferenceSession.create(encodeModel(model));
    try {
      const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]) });
      const got = out.h!.data as Float32Array;
      ids.forEach((id, k) => {
        const row = table!.row(id);
        for (let j = 0; j < D; j++) expect(row[j]).toBeCloseTo(got[k * D + j]!, 6);
      });
    } finally {
      await session.release();
    }
  });
});
