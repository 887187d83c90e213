// Rows of the model's own token-embedding matrix, for conceptual suppression.
import { DataType, type Graph, type Node, type Tensor, attrInt, tensorPayload } from '../../graph/ir/onnx-ir';
import { consumers, producers } from '../../graph/ir/graph-utils';
import { AtmanError } from '../../core/errors';
import { halfToFloat } from '../backends/tensor-data';
export { halfToFloat } from '../backends/tensor-data';

export interface EmbeddingTable {
  dim: number;
  /** token ids the table has rows for: 0 to rows - 1 */
  rows: number;
  /** a token's row; an id outside the table is TOKEN_OUT_OF_VOCABULARY */
  row(tokenId: number): Float32Array;
}

function outside(id: number, rows: number): AtmanError {
  return new AtmanError('TOKEN_OUT_OF_VOCABULARY', `Token ${id} has no row in this model's embedding table (it holds tokens 0 to ${rows - 1}).`);
}

/**
 * Bytes offset..offset+length of an external-data file, or undefined where they are not at hand.
 * Which ranges a table reads depends on the graph alone, never on the bytes read.
 */
export type ReadExternal = (location: string, offset: number, length: number) => Uint8Array | undefined;

/** A reader over whole files held in memory. */
export const readFromFiles =
  (files: ReadonlyMap<string, Uint8Array>): ReadExternal =>
  (location, offset, length) =>
    files.get(location)?.subarray(offset, offset + length);

/** The table with every row read checked against its size first. */
export const bounded = (rows: number, dim: number, read: (id: number) => Float32Array): EmbeddingTable => ({
  dim,
  rows,
  row(id) {
    if (!(Number.isInteger(id) && id >= 0 && id < rows)) throw outside(id, rows);
    return read(id);
  },
});

/** Inputs of onnxruntime's fused EmbedLayerNormalization: the token ids, and the token-embedding table (input 2; 3 holds positions). */
const EMBED_LAYER_NORM_IDS = 0;
const EMBED_LAYER_NORM_WORDS = 2;

/**
 * Finds the Gather that turns input_ids into vectors (or the fused EmbedLayerNormalization of
 * onnxruntime-optimized graphs, which also adds position embeddings and normalises: its word table
 * is what conceptual suppression compares) and reads rows from its initializer.
 */
export function findTokenEmbedding(
  g: Graph,
  readExternal: ReadExternal,
  idsInput = 'input_ids',
): EmbeddingTable | null {
  return findIn(g, new Map(), new Map(), readExternal, idsInput);
}

/** Searches a graph, then its subgraphs (merged decoders keep the embedding inside If branches). */
function findIn(
  g: Graph,
  outerInits: ReadonlyMap<string, Tensor>,
  outerProducers: ReadonlyMap<string, Node>,
  readExternal: ReadExternal,
  idsInput: string,
): EmbeddingTable | null {
  const prod = new Map([...outerProducers, ...producers(g)]);
  const comesFromIds = (name: string, depth = 0): boolean => {
    if (name === idsInput) return true;
    const p = prod.get(name);
    if (!p || depth > 4 || !['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Identity', 'Flatten'].includes(p.opType)) return false;
    return comesFromIds(p.inputs[0]!, depth + 1);
  };
  const inits = new Map([...outerInits, ...g.initializers.map((t) => [t.name, t] as const)]);
  const cons = consumers(g);
  for (const n of g.nodes) {
    if (n.opType === 'GatherBlockQuantized' && n.domain === 'com.microsoft' && comesFromIds(n.inputs[1]!)) {
      // 4-bit (or 8-bit) block-quantized tables, as the onnxruntime-genai builder writes for shared embeddings.
      const found = blockQuantizedTable(n, inits, readExternal);
      if (found) return found;
      continue;
    }
    if (n.opType === 'EmbedLayerNormalization' && comesFromIds(n.inputs[EMBED_LAYER_NORM_IDS] ?? '')) {
      const t = inits.get(n.inputs[EMBED_LAYER_NORM_WORDS] ?? '');
      if (t && t.dims.length === 2 && (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16)) return tableFrom(t, readExternal);
      continue;
    }
    if (n.opType !== 'Gather' || !comesFromIds(n.inputs[1]!)) continue;
    const t = inits.get(n.inputs[0]!);
    if (t && t.dims.length === 2 && (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16)) {
      return tableFrom(t, readExternal);
    }
    // 8-bit exports quantize the table too: DequantizeLinear before or after the Gather.
    const before = prod.get(n.inputs[0]!);
    const after = (cons.get(n.outputs[0]!) ?? []).find((c) => c.opType === 'DequantizeLinear');
    const dq = before?.opType === 'DequantizeLinear' ? before : t ? after : undefined;
    const q = dq && inits.get(dq === before ? dq.inputs[0]! : n.inputs[0]!);
    if (dq && q) return dequantizedTable(q, dq, inits, readExternal);
  }
  for (const n of g.nodes) {
    for (const a of n.attributes) {
      for (const sub of [a.g, ...(a.graphs ?? [])]) {
        const found = sub ? findIn(sub, inits, prod, readExternal, idsInput) : null;
        if (found) return found;
      }
    }
  }
  return null;
}

const INT8_TYPES = new Set<number>([DataType.INT8, DataType.UINT8]);

function dequantizedTable(
  q: Tensor,
  dq: Node,
  inits: Map<string, Tensor>,
  readExternal: ReadExternal,
): EmbeddingTable | null {
  const scale = inits.get(dq.inputs[1]!);
  const zero = dq.inputs[2] ? inits.get(dq.inputs[2]) : undefined;
  if (q.dims.length !== 2 || !INT8_TYPES.has(q.dataType) || !scale || (dq.inputs[2] && !zero)) return null;
  const [rows, dim] = q.dims as [number, number];
  const qb = bytesOf(q, 1, readExternal);
  const scales = floatsOf(scale, readExternal);
  const zeros = zero ? intsOf(zero, readExternal) : [0];
  if (!qb || !scales) return null;
  const signed = q.dataType === DataType.INT8;
  // Per-tensor (one scale), per-row (axis 0) or per-column (axis 1) scales.
  const axis = attrInt(dq, 'axis', 1);
  const pick = (arr: ArrayLike<number>, r: number, c: number): number =>
    arr.length === 1 ? arr[0]! : (axis === 0 || axis === -2) && arr.length === rows ? arr[r]! : arr[c]!;
  return bounded(Math.min(rows, Math.floor(qb.length / dim)), dim, (id) => {
    const out = new Float32Array(dim);
    for (let j = 0; j < dim; j++) {
      const raw = qb[id * dim + j]!;
      const v = signed && raw > 127 ? raw - 256 : raw;
      out[j] = (v - pick(zeros, id, j)) * pick(scales, id, j);
    }
    return out;
  });
}

function bytesOf(t: Tensor, width: number, readExternal: ReadExternal): Uint8Array | undefined {
  const p = tensorPayload(t);
  if (p.rawData) return p.rawData;
  if (!p.external) return undefined;
  const length = p.external.length ?? t.dims.reduce((a, b) => a * b, 1) * width;
  return readExternal(p.external.location, p.external.offset, length);
}

function floatsOf(t: Tensor, readExternal: ReadExternal): Float32Array | undefined {
  const p = tensorPayload(t);
  if (p.floatData) return Float32Array.from(p.floatData);
  const b = bytesOf(t, t.dataType === DataType.FLOAT16 ? 2 : 4, readExternal);
  if (!b) return undefined;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (t.dataType === DataType.FLOAT16) return Float32Array.from({ length: b.length / 2 }, (_, i) => halfToFloat(view.getUint16(i * 2, true)));
  return Float32Array.from({ length: b.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

function intsOf(t: Tensor, readExternal: ReadExternal): number[] {
  const p = tensorPayload(t);
  if (p.int32Data) return p.int32Data.map(Number); // int8/uint8 zero points may be stored as int32_data
  const b = bytesOf(t, 1, readExternal) ?? new Uint8Array(1);
  return Array.from(b, (x) => (t.dataType === DataType.INT8 && x > 127 ? x - 256 : x));
}

function tableFrom(t: Tensor, readExternal: ReadExternal): EmbeddingTable | null {
  const [rows, dim] = t.dims as [number, number];
  const p = tensorPayload(t);
  // Rows are read on demand: a large vocabulary's table is never converted whole.
  const bytes = bytesOf(t, t.dataType === DataType.FLOAT ? 4 : 2, readExternal);
  if (!bytes && p.floatData) {
    const data = Float32Array.from(p.floatData);
    return bounded(Math.min(rows, Math.floor(data.length / dim)), dim, (id) => data.slice(id * dim, (id + 1) * dim));
  }
  if (!bytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fp16 = t.dataType === DataType.FLOAT16;
  // The rows the bytes really hold, should the shape claim more.
  const stored = Math.floor(bytes.length / ((fp16 ? 2 : 4) * dim));
  return bounded(Math.min(rows, stored), dim, (id) => {
    const out = new Float32Array(dim);
    for (let j = 0; j < dim; j++) {
      out[j] = fp16 ? halfToFloat(view.getUint16((id * dim + j) * 2, true)) : view.getFloat32((id * dim + j) * 4, true);
    }
    return out;
  });
}


const PACKED_4BIT = new Set<number>([DataType.UINT4, DataType.INT4]);

/**
 * Rows of a com.microsoft GatherBlockQuantized table: data [vocab, dim] quantized in blocks of
 * `block_size` along the last axis, one scale (and optionally one zero point) per block. uint8 data
 * packs 8 / bits values per byte, low nibble first; without zero points uint8 data is centred on
 * 2^(bits-1), while int4/uint4 data is not shifted. Only the layout embeddings use (gather axis 0,
 * quantized along the last axis) is read; anything else returns null and conceptual suppression is off.
 */
function blockQuantizedTable(
  n: Node,
  inits: Map<string, Tensor>,
  readExternal: ReadExternal,
): EmbeddingTable | null {
  const data = inits.get(n.inputs[0]!);
  const scaleT = inits.get(n.inputs[2] ?? '');
  const zeroT = n.inputs[3] ? inits.get(n.inputs[3]) : undefined;
  if (!data || !scaleT || data.dims.length !== 2 || (n.inputs[3] && !zeroT)) return null;
  if (attrInt(n, 'gather_axis', 0) !== 0 || ![1, -1].includes(attrInt(n, 'quantize_axis', 1))) return null;
  const isU8 = data.dataType === DataType.UINT8;
  if (!isU8 && !PACKED_4BIT.has(data.dataType)) return null;
  const bits = isU8 ? attrInt(n, 'bits', 4) : 4;
  if (![2, 4, 8].includes(bits)) return null;
  const block = attrInt(n, 'block_size', 128);
  const perByte = 8 / bits;
  const rows = data.dims[0]!;
  const dim = isU8 ? data.dims[1]! * perByte : data.dims[1]!;
  const blocks = Math.ceil(dim / block);
  const raw = bytesOf(data, 1, readExternal);
  const scales = floatsOf(scaleT, readExternal);
  const zeros = zeroT ? bytesOf(zeroT, 1, readExternal) : undefined;
  if (!raw || !scales || scales.length !== rows * blocks || (zeroT && !zeros)) return null;
  const rowBytes = Math.ceil(dim / perByte);
  const signed = data.dataType === DataType.INT4;
  const mask = (1 << bits) - 1;
  const element = (bytes: Uint8Array, idx: number): number => {
    const v = (bytes[Math.floor(idx / perByte)]! >> ((idx % perByte) * bits)) & mask;
    return signed && v > 7 ? v - 16 : v;
  };
  // uint8 zero points pack per byte like the data; int4/uint4 zero points are 4-bit elements.
  const zeroRowLen = isU8 ? Math.ceil(blocks / perByte) : 0;
  const zeroAt = (r: number, b: number): number => {
    if (!zeros) return isU8 ? 1 << (bits - 1) : 0;
    if (isU8) return element(zeros.subarray(r * zeroRowLen), b);
    return element(zeros, r * blocks + b);
  };
  return bounded(rows, dim, (id) => {
    const out = new Float32Array(dim);
    const bytes = isU8 ? raw.subarray(id * rowBytes) : raw;
    const base = isU8 ? 0 : id * dim;
    for (let j = 0; j < dim; j++) {
      const b = Math.floor(j / block);
      out[j] = (element(bytes, base + j) - zeroAt(id, b)) * scales[id * blocks + b]!;
    }
    return out;
  });
}
