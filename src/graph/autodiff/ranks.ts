// Static ranks of the graph's values where they follow from declared shapes, initializers and a
// few shape rules: the backward pass needs them to transpose the last two axes of a MatMul operand
// and to read normalised axes. Unknown stays unknown; rules fall back to rank-free forms.
import { type Graph, attrInt, getAttr, tensorPayload } from '../ir/onnx-ir';

const SAME_AS_FIRST = new Set([
  'Cast', 'Sqrt', 'Neg', 'Tanh', 'Erf', 'Sigmoid', 'Relu', 'Exp', 'Log', 'Softmax', 'LogSoftmax', 'Identity', 'Gelu', 'FastGelu',
  'BiasGelu', 'QuickGelu', 'Reciprocal', 'Abs', 'Clip', 'Dropout', 'LayerNormalization', 'SimplifiedLayerNormalization',
  'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'Not', 'Transpose', 'Slice', 'Concat', 'Split', 'Cos', 'Sin',
  'Sign', 'CastLike', 'Trilu', 'Mod', 'Floor', 'Ceil', 'Round', 'DequantizeLinear',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Max', 'Min', 'Sum']);

export function inferRanks(g: Graph, outer: ReadonlyMap<string, number> = new Map()): Map<string, number> {
  const r = new Map<string, number>(outer);
  /** static length of a 1-D int tensor (a shape), where known */
  const len = new Map<string, number>();
  for (const v of [...g.inputs, ...g.valueInfo, ...g.outputs]) if (v.dims) r.set(v.name, v.dims.length);
  for (const t of g.initializers) {
    r.set(t.name, t.dims.length);
    if (t.dims.length === 1) len.set(t.name, t.dims[0]!);
  }
  const constLen = (name: string): number | undefined => len.get(name);
  for (const n of g.nodes) {
    const ri = n.inputs.map((i) => (i ? r.get(i) : undefined));
    const o = n.outputs;
    const set = (v: number | undefined, i = 0) => {
      if (v !== undefined && o[i] && !r.has(o[i]!)) r.set(o[i]!, v);
    };
    const axesCount = (): number | undefined => {
      const a = getAttr(n, 'axes');
      if (a?.ints) return a.ints.length;
      return n.inputs[1] ? constLen(n.inputs[1]) : undefined;
    };
    switch (n.opType) {
      case 'Constant': {
        const t = getAttr(n, 'value')?.t;
        if (t) {
          set(t.dims.length);
          if (t.dims.length === 1) len.set(o[0]!, t.dims[0]!);
        } else if (getAttr(n, 'value_ints') || getAttr(n, 'value_floats')) {
          set(1);
          const a = getAttr(n, 'value_ints')?.ints ?? getAttr(n, 'value_floats')?.floats;
          if (a) len.set(o[0]!, a.length);
        } else set(0);
        break;
      }
      case 'Shape':
        set(1);
        if (ri[0] !== undefined && !getAttr(n, 'start') && !getAttr(n, 'end')) len.set(o[0]!, ri[0]);
        break;
      case 'Size':
        set(0);
        break;
      case 'Range':
      case 'NonZero':
        set(n.opType === 'NonZero' ? 2 : 1);
        break;
      case 'ConstantOfShape':
      case 'Reshape':
        set(constLen(n.inputs[n.opType === 'Reshape' ? 1 : 0]!));
        break;
      case 'Expand': {
        const l = constLen(n.inputs[1]!);
        if (l !== undefined && ri[0] !== undefined) set(Math.max(l, ri[0]));
        break;
      }
      case 'Unsqueeze': {
        const k = axesCount();
        if (k !== undefined && ri[0] !== undefined) set(ri[0] + k);
        if (ri[0] === 0 && k === 1) len.set(o[0]!, 1);
        else if (ri[0] === 1 && constLen(n.inputs[0]!) !== undefined) len.set(o[0]!, constLen(n.inputs[0]!)!);
        break;
      }
      case 'Squeeze': {
        const k = axesCount();
        if (k !== undefined && ri[0] !== undefined) set(ri[0] - k);
        break;
      }
      case 'Gather':
        if (ri[0] !== undefined && ri[1] !== undefined) set(ri[0] - 1 + ri[1]);
        if (ri[0] === 1 && ri[1] === 1) {
          const l = constLen(n.inputs[1]!);
          if (l !== undefined) len.set(o[0]!, l);
        }
        break;
      case 'MatMul':
        if (ri[0] !== undefined && ri[1] !== undefined) set(Math.max(ri[0], ri[1]));
        break;
      case 'Gemm':
        set(2);
        break;
      case 'MatMulNBits':
        set(ri[0]);
        break;
      case 'ReduceSum':
      case 'ReduceMean':
      case 'ReduceMax':
      case 'ReduceMin':
      case 'ReduceProd':
      case 'ReduceL2': {
        if (ri[0] === undefined) break;
        if (attrInt(n, 'keepdims', 1)) set(ri[0]);
        else {
          const k = axesCount();
          if (k !== undefined) set(ri[0] - k);
        }
        break;
      }
      case 'Flatten':
        set(2);
        break;
      default:
        if (SAME_AS_FIRST.has(n.opType)) {
          for (let i = 0; i < o.length; i++) set(ri[0], i);
          if (n.opType === 'Concat' && n.inputs.every((x) => constLen(x) !== undefined) && ri[0] === 1) {
            len.set(o[0]!, n.inputs.reduce((a, x) => a + constLen(x)!, 0));
          }
          if (n.opType === 'Cast' && constLen(n.inputs[0]!) !== undefined) len.set(o[0]!, constLen(n.inputs[0]!)!);
        } else if (BROADCAST.has(n.opType)) {
          const known = ri.filter((x): x is number => x !== undefined);
          if (known.length === n.inputs.filter(Boolean).length) set(Math.max(...known));
        }
    }
  }
  return r;
}

/** Integer values of a constant (initializer or Constant node output), or null. */
export function constantInts(g: Graph, name: string): number[] | null {
  const t = g.initializers.find((x) => x.name === name);
  const fromTensor = (raw: typeof t) => {
    if (!raw) return null;
    const p = tensorPayload(raw);
    if (p.int64Data) return p.int64Data.map(Number);
    if (p.int32Data) return p.int32Data.map(Number);
    if (p.rawData && raw.dataType === 7) {
      const copy = new Uint8Array(p.rawData);
      return Array.from(new BigInt64Array(copy.buffer, 0, copy.byteLength / 8), Number);
    }
    if (p.rawData && raw.dataType === 6) {
      const copy = new Uint8Array(p.rawData);
      return Array.from(new Int32Array(copy.buffer, 0, copy.byteLength / 4));
    }
    return null;
  };
  if (t) return fromTensor(t);
  const c = g.nodes.find((n) => n.opType === 'Constant' && n.outputs[0] === name);
  if (!c) return null;
  const ints = getAttr(c, 'value_ints')?.ints ?? (getAttr(c, 'value_int')?.i !== undefined ? [getAttr(c, 'value_int')!.i!] : undefined);
  if (ints) return ints.map(Number);
  return fromTensor(getAttr(c, 'value')?.t);
}
