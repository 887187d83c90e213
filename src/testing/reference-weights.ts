// The weights of an ONNX file as the float64 references read them: float32 as stored, float16
// widened, and quantized weights dequantized here (written out from the layouts, sharing no code
// with the engine): 4-bit MatMulNBits blocks, 4-bit GatherBlockQuantized tables and 8-bit tensors
// with a scale and zero point (onnxruntime's dynamic quantization, DequantizeLinear tables). Each
// dequantized weight takes its float name, without the quantized suffix, in the float layout
// ([K, N] for a product, [rows, dim] for a table), so a reference reads every variant by the
// same names.
import { readFileSync } from 'node:fs';
import { DataType, type Graph, type Node, type Tensor, attrInt, decodeModel, tensorPayload } from '../graph/ir/onnx-ir';
import { WeightSet } from './reference-vlm';

type Entry = { dims: number[]; data: Float64Array };

const aligned = (b: Uint8Array): ArrayBuffer => new Uint8Array(b).buffer;

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Elements of a tensor as float64 (integers as their values). */
function valuesOf(t: Tensor): Float64Array {
  const p = tensorPayload(t);
  if (p.external) throw new Error(`initializer ${t.name} is stored outside the file`);
  const raw = p.rawData;
  switch (t.dataType) {
    case DataType.FLOAT:
      return raw ? Float64Array.from(new Float32Array(aligned(raw))) : Float64Array.from(p.floatData ?? []);
    case DataType.FLOAT16:
      return raw ? Float64Array.from(new Uint16Array(aligned(raw)), halfToFloat) : Float64Array.from(p.int32Data ?? [], (v) => halfToFloat(Number(v)));
    case DataType.UINT8:
      return raw ? Float64Array.from(raw) : Float64Array.from(p.int32Data ?? [], Number);
    case DataType.INT8:
      return raw ? Float64Array.from(new Int8Array(aligned(raw))) : Float64Array.from(p.int32Data ?? [], Number);
    default:
      throw new Error(`initializer ${t.name} has element type ${t.dataType}, not a weight type`);
  }
}

/** 4-bit codes, low nibble first. */
const nibble = (bytes: Float64Array, i: number): number => ((bytes[i >> 1]! >> ((i & 1) * 4)) & 0xf);

/** MatMulNBits B [N, blocks, blockSize/2] with scales [N * blocks] and zero points [N * ceil(blocks/2)] (8 without) -> W [K, N]. */
function dequantizeNBits(n: Node, get: (name: string) => Float64Array | undefined): Entry {
  const K = attrInt(n, 'K', 0);
  const N = attrInt(n, 'N', 0);
  const block = attrInt(n, 'block_size', 0);
  if (attrInt(n, 'bits', 4) !== 4) throw new Error('only 4-bit MatMulNBits is read');
  const q = get(n.inputs[1]!)!;
  const scales = get(n.inputs[2]!)!;
  const zps = n.inputs[3] ? get(n.inputs[3]) : undefined;
  const blocks = Math.ceil(K / block);
  const zpStride = Math.ceil(blocks / 2);
  const w = new Float64Array(K * N);
  for (let c = 0; c < N; c++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / block);
      const code = nibble(q, (c * blocks + b) * block + (k % block));
      const zp = zps ? nibble(zps, c * zpStride * 2 + b) : 8;
      w[k * N + c] = (code - zp) * scales[c * blocks + b]!;
    }
  }
  return { dims: [K, N], data: w };
}

/** GatherBlockQuantized data [rows, dim/2] (4-bit, blocks along the last axis), scales [rows, blocks], zero points [rows, ceil(blocks/2)] -> [rows, dim]. */
function dequantizeBlockTable(n: Node, dims: number[], get: (name: string) => Float64Array | undefined): Entry {
  if (attrInt(n, 'bits', 4) !== 4 || attrInt(n, 'gather_axis', 0) !== 0 || attrInt(n, 'quantize_axis', 1) !== 1) throw new Error('only 4-bit row tables are read');
  const block = attrInt(n, 'block_size', 128);
  const q = get(n.inputs[0]!)!;
  const scales = get(n.inputs[2]!)!;
  const zps = n.inputs[3] ? get(n.inputs[3]) : undefined;
  const [rows, half] = dims as [number, number];
  const dim = half * 2;
  const blocks = Math.ceil(dim / block);
  const zpStride = Math.ceil(blocks / 2);
  const w = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < dim; d++) {
      const b = Math.floor(d / block);
      const zp = zps ? nibble(zps, r * zpStride * 2 + b) : 8;
      w[r * dim + d] = (nibble(q, r * dim + d) - zp) * scales[r * blocks + b]!;
    }
  }
  return { dims: [rows, dim], data: w };
}

/** Every weight of the graph (subgraphs included) as float64, quantized ones dequantized under their float names. */
export function readReferenceWeights(bytes: Uint8Array): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (g: Graph): void => {
    const inits = new Map(g.initializers.map((t) => [t.name, t]));
    const cache = new Map<string, Float64Array>();
    const get = (name: string): Float64Array | undefined => {
      const t = inits.get(name);
      if (!t) return undefined;
      if (!cache.has(name)) cache.set(name, valuesOf(t));
      return cache.get(name);
    };
    for (const t of g.initializers) if (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16) out.set(t.name, { dims: t.dims, data: get(t.name)! });
    for (const t of g.initializers) {
      // 8-bit tensors with a per-tensor (or per-last-axis) scale and zero point
      const m = /^(.*)_quantized$/.exec(t.name);
      if (!m || (t.dataType !== DataType.UINT8 && t.dataType !== DataType.INT8)) continue;
      const scale = get(`${m[1]}_scale`);
      const zp = get(`${m[1]}_zero_point`) ?? new Float64Array(1);
      if (!scale) continue;
      const q = get(t.name)!;
      const last = t.dims[t.dims.length - 1]!;
      const at = (a: Float64Array, i: number) => (a.length === 1 ? a[0]! : a[i % last]!);
      out.set(m[1]!, { dims: t.dims, data: q.map((v, i) => (v - at(zp, i)) * at(scale, i)) });
    }
    for (const n of g.nodes) {
      if (n.domain === 'com.microsoft' && n.opType === 'MatMulNBits' && inits.has(n.inputs[1]!)) {
        out.set(n.inputs[1]!.replace(/(_Q4|\.qweight)$/, ''), dequantizeNBits(n, get));
      } else if (n.domain === 'com.microsoft' && n.opType === 'GatherBlockQuantized' && inits.has(n.inputs[0]!)) {
        out.set(n.inputs[0]!.replace(/\.qweight$/, ''), dequantizeBlockTable(n, inits.get(n.inputs[0]!)!.dims, get));
      }
      for (const a of n.attributes) [a.g, ...(a.graphs ?? [])].forEach((sg) => sg && visit(sg));
    }
  };
  visit(decodeModel(bytes).graph);
  return out;
}

export const referenceWeightSet = (file: string): WeightSet => new WeightSet(readReferenceWeights(new Uint8Array(readFileSync(file))));
