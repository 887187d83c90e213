// Making new ONNX pieces for the rewrite passes: tensors (inline or external), attributes, nodes,
// value infos and an empty graph, in the IR of onnx-ir.ts.
import { Writer } from './wire';
import { AttrType, DataType, type Attribute, type Dim, type Graph, type Node, type Tensor, type ValueInfo } from './onnx-ir';

export function makeTensor(
  name: string,
  dataType: DataType,
  dims: readonly number[],
  data: ArrayBufferView,
): Tensor {
  const w = new Writer();
  if (dims.length) w.packedVarints(1, dims);
  w.varint(2, dataType);
  w.string(8, name);
  w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return { name, dataType, dims: [...dims], raw: w.finish() };
}

export function makeExternalTensor(
  name: string,
  dataType: DataType,
  dims: readonly number[],
  location: string,
  offset: number,
  length: number,
): Tensor {
  const w = new Writer();
  if (dims.length) w.packedVarints(1, dims);
  w.varint(2, dataType);
  w.string(8, name);
  for (const [k, v] of [['location', location], ['offset', String(offset)], ['length', String(length)]] as const) {
    w.message(13, new Writer().string(1, k).string(2, v));
  }
  w.varint(14, 1);
  return { name, dataType, dims: [...dims], raw: w.finish() };
}

export type AttrValue = number | bigint | string | number[] | Graph | Tensor | { ints: number[] } | { floats: number[] };

export function makeAttribute(name: string, value: AttrValue): Attribute {
  const a: Attribute = { name, type: 0, rest: [] };
  if (typeof value === 'bigint') Object.assign(a, { type: AttrType.INT, i: value });
  else if (typeof value === 'number') {
    if (Number.isInteger(value)) Object.assign(a, { type: AttrType.INT, i: BigInt(value) });
    else Object.assign(a, { type: AttrType.FLOAT, f: value });
  } else if (typeof value === 'string') Object.assign(a, { type: AttrType.STRING, s: new TextEncoder().encode(value) });
  else if (Array.isArray(value)) Object.assign(a, { type: AttrType.INTS, ints: value.map(BigInt) });
  else if ('ints' in value) Object.assign(a, { type: AttrType.INTS, ints: value.ints.map(BigInt) });
  else if ('floats' in value) Object.assign(a, { type: AttrType.FLOATS, floats: value.floats });
  else if ('nodes' in value) Object.assign(a, { type: AttrType.GRAPH, g: value });
  else Object.assign(a, { type: AttrType.TENSOR, t: value });
  return a;
}

/** Float attributes that happen to hold whole numbers (alpha=1.0) need this. */
export const makeFloatAttribute = (name: string, f: number): Attribute => ({ name, type: AttrType.FLOAT, f, rest: [] });

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
  opts: { name?: string; domain?: string } = {},
): Node {
  return {
    name: opts.name ?? '',
    opType,
    domain: opts.domain ?? '',
    inputs,
    outputs,
    attributes: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
    rest: [],
  };
}

export function makeValueInfo(name: string, elemType: DataType, dims: Dim[] | null): ValueInfo {
  return { name, elemType, dims };
}

export const emptyGraph = (name = 'main'): Graph => ({
  name,
  nodes: [],
  initializers: [],
  inputs: [],
  outputs: [],
  valueInfo: [],
  rest: [],
});
