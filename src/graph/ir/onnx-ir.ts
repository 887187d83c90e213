// A small editable IR over ONNX's protobuf. Only the parts graph passes read
// are decoded (nodes, attributes, value infos, tensor headers); everything else,
// weights included, travels as the original wire bytes.
import {
  type RawField,
  Writer,
  WireType,
  fieldString,
  readFields,
  readPackedFloats,
  readPackedVarints,
  toSigned64,
} from './wire';

export enum DataType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  BFLOAT16 = 16,
  UINT4 = 21,
  INT4 = 22,
}

export const enum AttrType {
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
}

export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  /** tensor element type, 0 when the value is not a tensor or untyped */
  elemType: number;
  /** null when the shape is unknown */
  dims: Dim[] | null;
  /** original bytes, kept while the value info is unchanged */
  raw?: Uint8Array;
}

export interface Tensor {
  name: string;
  dataType: number;
  dims: number[];
  /** the complete encoded TensorProto; re-encoded only when `name` changes */
  raw: Uint8Array;
}

export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: bigint;
  s?: Uint8Array;
  t?: Tensor;
  g?: Graph;
  floats?: number[];
  ints?: bigint[];
  strings?: Uint8Array[];
  graphs?: Graph[];
  rest: RawField[];
}

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
  rest: RawField[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Tensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  rest: RawField[];
}

export interface OpsetId {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: bigint;
  opsets: OpsetId[];
  graph: Graph;
  rest: RawField[];
}

export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}

// ---------- decoding ----------

export function decodeModel(buf: Uint8Array): Model {
  let irVersion = 0n;
  const opsets: OpsetId[] = [];
  let graph: Graph | undefined;
  const rest: RawField[] = [];
  for (const f of readFields(buf)) {
    if (f.no === 1 && f.wt === WireType.Varint) irVersion = f.varint!;
    else if (f.no === 8 && f.wt === WireType.Bytes) opsets.push(decodeOpset(f.bytes!));
    else if (f.no === 7 && f.wt === WireType.Bytes) graph = decodeGraph(f.bytes!);
    else rest.push(f);
  }
  if (!graph) throw new OnnxFormatError('not an ONNX model: no graph found');
  return { irVersion, opsets, graph, rest };
}

function decodeOpset(b: Uint8Array): OpsetId {
  const id: OpsetId = { domain: '', version: 0 };
  for (const f of readFields(b)) {
    if (f.no === 1) id.domain = fieldString(f);
    else if (f.no === 2) id.version = Number(f.varint!);
  }
  return id;
}

export function decodeGraph(b: Uint8Array): Graph {
  const g: Graph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [], rest: [] };
  for (const f of readFields(b)) {
    if (f.wt !== WireType.Bytes) {
      g.rest.push(f);
      continue;
    }
    switch (f.no) {
      case 1: g.nodes.push(decodeNode(f.bytes!)); break;
      case 2: g.name = fieldString(f); break;
      case 5: g.initializers.push(decodeTensorHeader(f.bytes!)); break;
      case 11: g.inputs.push(decodeValueInfo(f.bytes!)); break;
      case 12: g.outputs.push(decodeValueInfo(f.bytes!)); break;
      case 13: g.valueInfo.push(decodeValueInfo(f.bytes!)); break;
      default: g.rest.push(f);
    }
  }
  return g;
}

function decodeNode(b: Uint8Array): Node {
  const n: Node = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [], rest: [] };
  for (const f of readFields(b)) {
    switch (f.no) {
      case 1: n.inputs.push(fieldString(f)); break;
      case 2: n.outputs.push(fieldString(f)); break;
      case 3: n.name = fieldString(f); break;
      case 4: n.opType = fieldString(f); break;
      case 7: n.domain = fieldString(f); break;
      case 5: n.attributes.push(decodeAttribute(f.bytes!)); break;
      default: n.rest.push(f);
    }
  }
  return n;
}

function decodeAttribute(b: Uint8Array): Attribute {
  const a: Attribute = { name: '', type: 0, rest: [] };
  for (const f of readFields(b)) {
    switch (f.no) {
      case 1: a.name = fieldString(f); break;
      case 20: a.type = Number(f.varint!); break;
      case 2: a.f = new DataView(f.bytes!.buffer, f.bytes!.byteOffset, 4).getFloat32(0, true); break;
      case 3: a.i = toSigned64(f.varint!); break;
      case 4: a.s = f.bytes!; break;
      case 5: a.t = decodeTensorHeader(f.bytes!); break;
      case 6: a.g = decodeGraph(f.bytes!); break;
      case 7: (a.floats ??= []).push(...readPackedFloats(f)); break; // packed or a single fixed32: same bytes
      case 8: (a.ints ??= []).push(...readPackedVarints(f)); break;
      case 9: (a.strings ??= []).push(f.bytes!); break;
      case 11: (a.graphs ??= []).push(decodeGraph(f.bytes!)); break;
      default: a.rest.push(f);
    }
  }
  return a;
}

export function decodeTensorHeader(raw: Uint8Array): Tensor {
  const t: Tensor = { name: '', dataType: 0, dims: [], raw };
  for (const f of readFields(raw)) {
    if (f.no === 8) t.name = fieldString(f);
    else if (f.no === 2) t.dataType = Number(f.varint!);
    else if (f.no === 1) t.dims.push(...readPackedVarints(f).map(Number));
  }
  return t;
}

function decodeValueInfo(raw: Uint8Array): ValueInfo {
  const v: ValueInfo = { name: '', elemType: 0, dims: null, raw };
  for (const f of readFields(raw)) {
    if (f.no === 1) v.name = fieldString(f);
    else if (f.no === 2) {
      for (const tf of readFields(f.bytes!)) {
        if (tf.no !== 1) continue; // tensor_type
        for (const tt of readFields(tf.bytes!)) {
          if (tt.no === 1) v.elemType = Number(tt.varint!);
          else if (tt.no === 2) {
            v.dims = [];
            for (const d of readFields(tt.bytes!)) {
              let dim: Dim = null;
              for (const df of readFields(d.bytes!)) {
                if (df.no === 1) dim = Number(toSigned64(df.varint!));
                else if (df.no === 2) dim = fieldString(df);
              }
              v.dims.push(dim);
            }
          }
        }
      }
    }
  }
  return v;
}

// ---------- tensor payloads ----------

export interface ExternalDataRef {
  location: string;
  offset: number;
  length: number | null;
}

export interface TensorPayload {
  /** raw little-endian bytes, when stored inline */
  rawData?: Uint8Array;
  floatData?: number[];
  int64Data?: bigint[];
  int32Data?: bigint[];
  external?: ExternalDataRef;
}

export function tensorPayload(t: Tensor): TensorPayload {
  const p: TensorPayload = {};
  let external = false;
  const ext: Record<string, string> = {};
  for (const f of readFields(t.raw)) {
    if (f.no === 9) p.rawData = f.bytes!;
    else if (f.no === 4) (p.floatData ??= []).push(...readPackedFloats(f));
    else if (f.no === 7) (p.int64Data ??= []).push(...readPackedVarints(f));
    else if (f.no === 5) (p.int32Data ??= []).push(...readPackedVarints(f));
    else if (f.no === 14) external = f.varint === 1n;
    else if (f.no === 13) {
      let k = '';
      let v = '';
      for (const e of readFields(f.bytes!)) {
        if (e.no === 1) k = fieldString(e);
        else if (e.no === 2) v = fieldString(e);
      }
      ext[k] = v;
    }
  }
  if (external) {
    p.external = {
      location: ext.location ?? '',
      offset: Number(ext.offset ?? 0),
      length: ext.length !== undefined ? Number(ext.length) : null,
    };
  }
  return p;
}


// ---------- encoding ----------

export function encodeModel(m: Model): Uint8Array {
  const w = new Writer();
  w.varint(1, m.irVersion);
  for (const op of m.opsets) {
    const o = new Writer();
    if (op.domain) o.string(1, op.domain);
    o.varint(2, op.version);
    w.message(8, o);
  }
  w.message(7, encodeGraph(m.graph));
  for (const f of m.rest) w.raw(f);
  return w.finish();
}

function encodeGraph(g: Graph): Writer {
  const w = new Writer();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  if (g.name) w.string(2, g.name);
  for (const t of g.initializers) w.bytes(5, encodeTensor(t));
  for (const v of g.inputs) w.bytes(11, encodeValueInfo(v));
  for (const v of g.outputs) w.bytes(12, encodeValueInfo(v));
  for (const v of g.valueInfo) w.bytes(13, encodeValueInfo(v));
  for (const f of g.rest) w.raw(f);
  return w;
}

function encodeNode(n: Node): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.message(5, encodeAttribute(a));
  if (n.domain) w.string(7, n.domain);
  for (const f of n.rest) w.raw(f);
  return w;
}

function encodeAttribute(a: Attribute): Writer {
  const w = new Writer();
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.varint(3, a.i);
  if (a.s !== undefined) w.bytes(4, a.s);
  if (a.t !== undefined) w.bytes(5, encodeTensor(a.t));
  if (a.g !== undefined) w.message(6, encodeGraph(a.g));
  if (a.floats) w.packedFloats(7, a.floats);
  if (a.ints) w.packedVarints(8, a.ints);
  for (const s of a.strings ?? []) w.bytes(9, s);
  for (const g of a.graphs ?? []) w.message(11, encodeGraph(g));
  w.varint(20, a.type);
  for (const f of a.rest) w.raw(f);
  return w;
}

function encodeTensor(t: Tensor): Uint8Array {
  const current = decodeTensorHeader(t.raw);
  if (current.name === t.name) return t.raw;
  const w = new Writer();
  for (const f of readFields(t.raw)) if (f.no !== 8) w.raw(f);
  w.string(8, t.name);
  return w.finish();
}

function encodeValueInfo(v: ValueInfo): Uint8Array {
  if (v.raw) return v.raw;
  const w = new Writer();
  w.string(1, v.name);
  if (v.elemType) {
    const tensorType = new Writer().varint(1, v.elemType);
    if (v.dims) {
      const shape = new Writer();
      for (const d of v.dims) {
        const dim = new Writer();
        if (typeof d === 'number') dim.varint(1, d);
        else if (typeof d === 'string') dim.string(2, d);
        shape.message(1, dim);
      }
      tensorType.message(2, shape);
    }
    w.message(2, new Writer().message(1, tensorType));
  }
  return w.finish();
}

// ---------- queries ----------

export const getAttr = (n: Node, name: string): Attribute | undefined => n.attributes.find((a) => a.name === name);
export const attrInt = (n: Node, name: string, dflt: number): number => {
  const a = getAttr(n, name);
  return a?.i !== undefined ? Number(a.i) : dflt;
};

export function opsetVersion(m: Model, domain = ''): number {
  const d = domain === 'ai.onnx' ? '' : domain;
  return m.opsets.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version ?? 0;
}

/** Subgraphs held by a node's attributes (If branches, Loop/Scan bodies). */
export const subgraphs = (n: Node): Graph[] => n.attributes.flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]);
