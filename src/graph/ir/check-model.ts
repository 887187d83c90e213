// Structural checks of an ONNX file before anything rewrites or runs it. A file cut short or
// with bytes changed either fails to parse (MODEL_DAMAGED) or parses into a graph that does not
// hold together (MODEL_INVALID): values nobody produces, cycles, weights whose stored bytes do not
// match their shape and type. Without these checks such files reach onnxruntime or the rewriter
// and fail with their internal messages, or run and give numbers that mean nothing. Changed weight
// bytes that keep every size are invisible here: the download's hash check is for those.
import { AtmanError } from '../../core/errors';
import { DataType, type Graph, type Model, type Node, type Tensor, attrInt, decodeModel, subgraphs } from './onnx-ir';
import { type RawField, WireType, fieldString, readFields } from './wire';

/** decodeModel, with a file that is not a readable ONNX model said in words. */
export function parseModelFile(bytes: Uint8Array, file: string, modelId: string): Model {
  try {
    return decodeModel(bytes);
  } catch (e) {
    const why = (e as Error).message;
    throw new AtmanError(
      'MODEL_DAMAGED',
      `${file} of ${modelId} is not a readable ONNX model (${why}${bytes.length ? `, ${bytes.length} bytes` : ', the file is empty'}): the download was cut short or the file is damaged. Download it again.`,
      { file, reason: why },
    );
  }
}

/** Bytes per element by ONNX data type; 0.5 for 4-bit types; absent: not checked (strings, types newer than this table). */
const ELEMENT_BYTES: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  14: 8, // COMPLEX64
  15: 16, // COMPLEX128
  [DataType.BFLOAT16]: 2,
  17: 1, // FLOAT8E4M3FN
  18: 1, // FLOAT8E4M3FNUZ
  19: 1, // FLOAT8E5M2
  20: 1, // FLOAT8E5M2FNUZ
  [DataType.UINT4]: 0.5,
  [DataType.INT4]: 0.5,
  23: 0.5, // FLOAT4E2M1
};

// TensorProto fields: which repeated field holds a type's values, and how many entries one element takes.
const F_FLOAT = 4, F_INT32 = 5, F_STRING = 6, F_INT64 = 7, F_RAW = 9, F_DOUBLE = 10, F_UINT64 = 11, F_EXTERNAL = 13, F_LOCATION = 14;
function typedField(dataType: number): { no: number; per: number; width: number } | null {
  switch (dataType) {
    case DataType.FLOAT: return { no: F_FLOAT, per: 1, width: 4 };
    case 14: return { no: F_FLOAT, per: 2, width: 4 };
    case DataType.DOUBLE: return { no: F_DOUBLE, per: 1, width: 8 };
    case 15: return { no: F_DOUBLE, per: 2, width: 8 };
    case DataType.INT64: return { no: F_INT64, per: 1, width: 0 };
    case DataType.UINT32:
    case DataType.UINT64: return { no: F_UINT64, per: 1, width: 0 };
    case DataType.STRING: return { no: F_STRING, per: 1, width: -1 };
    // 4-bit types pack two elements into each int32_data entry; the rest take one entry each.
    case DataType.UINT4:
    case DataType.INT4:
    case 23: return { no: F_INT32, per: 0.5, width: 0 };
    default: return ELEMENT_BYTES[dataType] !== undefined ? { no: F_INT32, per: 1, width: 0 } : null;
  }
}

/** Entries of a repeated scalar field, packed or not, counted without decoding them. */
function countEntries(fields: readonly RawField[], width: number): number {
  let n = 0;
  for (const f of fields) {
    if (f.wt !== WireType.Bytes || width < 0) n += 1; // one unpacked value, or one string
    else if (width > 0) n += Math.floor(f.bytes!.length / width);
    else for (const b of f.bytes!) if ((b & 0x80) === 0) n++; // packed varints end at a byte below 0x80
  }
  return n;
}

export interface ExternalRange {
  tensor: string;
  location: string;
  offset: number;
  /** the bytes the tensor's shape and type need */
  needed: number;
  /** the length the graph records, when it records one */
  length: number | null;
}

const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Checks one tensor's stored data against its shape and type; returns its external-data range, if it has one. */
function checkTensor(t: Tensor, where: string): ExternalRange | null {
  const bad = (what: string): AtmanError =>
    new AtmanError('MODEL_INVALID', `${where} is damaged: the weight "${t.name}" ${what}. Download the file again; if it stays, the export is broken.`, { tensor: t.name });
  if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`has an impossible shape [${t.dims.join(', ')}]`);
  const per = ELEMENT_BYTES[t.dataType];
  const typed = typedField(t.dataType);
  if (!typed && t.dataType !== DataType.STRING) return null; // a type newer than this check
  const count = elementCount(t.dims);
  const needed = per === undefined ? null : Math.ceil(count * per);
  const fields = readFields(t.raw);
  const raw = fields.find((f) => f.no === F_RAW);
  const external = fields.some((f) => f.no === F_LOCATION && f.varint === 1n);
  const values = typed ? fields.filter((f) => f.no === typed.no) : [];
  const shape = `[${t.dims.join(', ')}]`;
  if (external) {
    const ext: Record<string, string> = {};
    for (const e of fields.filter((f) => f.no === F_EXTERNAL)) {
      let k = '';
      let v = '';
      for (const x of readFields(e.bytes!)) {
        if (x.no === 1) k = fieldString(x);
        else if (x.no === 2) v = fieldString(x);
      }
      ext[k] = v;
    }
    const offset = Number(ext.offset ?? 0);
    const length = ext.length !== undefined ? Number(ext.length) : null;
    if (!ext.location) throw bad('is stored in an external file the graph does not name');
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== null && (!Number.isSafeInteger(length) || length < 0))) {
      throw bad(`points at an impossible range of ${ext.location} (offset ${ext.offset}, length ${ext.length})`);
    }
    if (needed !== null && length !== null && length !== needed) throw bad(`should take ${needed} bytes for shape ${shape} but its external data is ${length} bytes long`);
    return { tensor: t.name, location: ext.location, offset, needed: needed ?? length ?? 0, length };
  }
  if (raw) {
    if (needed !== null && raw.bytes!.length !== needed) throw bad(`holds ${raw.bytes!.length} bytes where shape ${shape} needs ${needed}`);
    return null;
  }
  const expected = typed ? Math.ceil(count * typed.per) : count;
  const got = typed ? countEntries(values, typed.width) : 0;
  if (got !== expected && (got > 0 || count > 0)) throw bad(`holds ${got} values where shape ${shape} needs ${expected}`);
  return null;
}

/** MatMulNBits (com.microsoft): B packs K×N weights in blocks; its sizes follow from K, N, bits and block_size. */
function checkMatMulNBits(n: Node, inits: ReadonlyMap<string, Tensor>, where: string): void {
  const K = attrInt(n, 'K', -1);
  const N = attrInt(n, 'N', -1);
  const bits = attrInt(n, 'bits', 4);
  const block = attrInt(n, 'block_size', -1);
  const node = `MatMulNBits node "${n.name || n.outputs[0]}"`;
  const bad = (what: string): AtmanError => new AtmanError('MODEL_INVALID', `${where} is damaged: ${node} ${what}. Download the file again; if it stays, the export is broken.`, { node: n.name });
  if (!(K > 0 && N > 0 && block > 0 && bits > 0 && bits <= 8)) throw bad(`has impossible attributes (K ${K}, N ${N}, bits ${bits}, block_size ${block})`);
  const blocks = Math.ceil(K / block);
  const blob = (block * bits) / 8;
  const sized = (name: string | undefined, want: readonly number[], what: string): void => {
    const t = name ? inits.get(name) : undefined;
    if (!t) return; // computed at run time, or absent (optional)
    const have = elementCount(t.dims);
    if (!want.includes(have)) throw bad(`has ${what} "${t.name}" of ${have} elements where K ${K}, N ${N}, ${bits} bits in blocks of ${block} need ${want[0]}`);
  };
  sized(n.inputs[1], [N * blocks * blob], 'packed weights');
  sized(n.inputs[2], [N * blocks], 'scales');
  const zp = n.inputs[3] ? inits.get(n.inputs[3]) : undefined;
  if (zp) sized(zp.name, zp.dataType === DataType.UINT8 ? [N * Math.ceil((blocks * bits) / 8), Math.ceil((N * blocks * bits) / 8)] : [N * blocks], 'zero points');
}

/**
 * Checks that every value a node reads is produced somewhere (a graph input, a weight, an earlier
 * node, or an enclosing graph), that nothing is produced twice, that the nodes have an order (no
 * cycle), and that every weight stores as many bytes as its shape and type need. Returns the
 * external-data ranges, for checkExternalRanges once those files are there.
 */
export function validateModel(m: Model, where: string): ExternalRange[] {
  const ranges: ExternalRange[] = [];
  try {
    validateGraph(m.graph, new Set(), where, ranges, true);
  } catch (e) {
    if (e instanceof AtmanError) throw e;
    // Parts decodeModel keeps as bytes (a weight's external-data entries) may not parse either.
    throw new AtmanError('MODEL_DAMAGED', `${where} is not a readable ONNX model (${(e as Error).message}): the download was cut short or the file is damaged. Download it again.`);
  }
  return ranges;
}

function validateGraph(g: Graph, outer: ReadonlySet<string>, where: string, ranges: ExternalRange[], main: boolean): void {
  const invalid = (what: string): AtmanError =>
    new AtmanError('MODEL_INVALID', `${where} is damaged or not a valid graph: ${what}. Download the file again; if it stays, the export is broken.`);
  const inits = new Map<string, Tensor>();
  for (const t of g.initializers) {
    const r = checkTensor(t, where);
    if (r) ranges.push(r);
    inits.set(t.name, t);
  }
  const available = new Set<string>([...outer, ...g.inputs.map((v) => v.name), ...inits.keys()]);
  const producer = new Map<string, Node>();
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      if (producer.has(o) || (!main && g.inputs.some((v) => v.name === o))) throw invalid(`the value "${o}" is produced twice`);
      producer.set(o, n);
    }
  }
  const label = (n: Node): string => `${n.opType} node${n.name ? ` "${n.name}"` : ''}`;
  // Which in-graph values each node waits for (its inputs and what its subgraphs read from here).
  const waitsFor = new Map<Node, string[]>();
  const scope = new Set<string>([...available, ...producer.keys()]);
  for (const n of g.nodes) {
    for (const a of n.attributes) if (a.t) checkTensor(a.t, where);
    if (n.opType === 'MatMulNBits' && n.domain === 'com.microsoft') checkMatMulNBits(n, inits, where);
    const reads: string[] = [];
    for (const i of n.inputs) {
      if (!i) continue;
      if (!scope.has(i)) throw invalid(`${label(n)} reads "${i}", which no node, graph input or weight provides`);
      if (!available.has(i)) reads.push(i);
    }
    for (const sg of subgraphs(n)) {
      validateGraph(sg, scope, where, ranges, false);
      for (const r of freeNames(sg)) if (producer.has(r) && !available.has(r)) reads.push(r);
    }
    waitsFor.set(n, reads);
  }
  for (const o of g.outputs) if (o.name && !scope.has(o.name)) throw invalid(`the graph output "${o.name}" is produced by no node`);
  // Kahn's order: whatever cannot be ordered waits on itself through a cycle.
  const pending = new Map<Node, number>();
  const readers = new Map<string, Node[]>();
  const ready: Node[] = [];
  for (const [n, reads] of waitsFor) {
    const uniq = [...new Set(reads)];
    pending.set(n, uniq.length);
    for (const r of uniq) (readers.get(r) ?? readers.set(r, []).get(r)!).push(n);
    if (uniq.length === 0) ready.push(n);
  }
  let done = 0;
  while (ready.length) {
    const n = ready.pop()!;
    done++;
    for (const o of n.outputs) {
      for (const r of readers.get(o) ?? []) {
        const left = pending.get(r)! - 1;
        pending.set(r, left);
        if (left === 0) ready.push(r);
      }
    }
  }
  if (done < g.nodes.length) {
    const stuck = g.nodes.find((n) => pending.get(n)! > 0)!;
    throw invalid(`its nodes form a cycle (${label(stuck)} depends on its own output)`);
  }
}

/** Names a subgraph reads from enclosing scopes. */
function freeNames(g: Graph): Set<string> {
  const defined = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name)]);
  for (const n of g.nodes) for (const o of n.outputs) defined.add(o);
  const free = new Set<string>();
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i && !defined.has(i)) free.add(i);
    for (const sg of subgraphs(n)) for (const r of freeNames(sg)) if (!defined.has(r)) free.add(r);
  }
  return free;
}

/** Every external-data range must lie inside its file (sizes in bytes; a file not given is not checked). */
export function checkExternalRanges(ranges: readonly ExternalRange[], sizeOf: (location: string) => number | undefined, where: string): void {
  for (const r of ranges) {
    const size = sizeOf(r.location);
    if (size === undefined) continue;
    const end = r.offset + (r.length ?? r.needed);
    if (end > size) {
      throw new AtmanError(
        'MODEL_INVALID',
        `${where} is damaged or incomplete: the weight "${r.tensor}" lies at bytes ${r.offset} to ${end} of ${r.location}, which has only ${size} bytes. Download both files again.`,
        { tensor: r.tensor, location: r.location },
      );
    }
  }
}
