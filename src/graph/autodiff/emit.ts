// Writes the backward graph's nodes: fresh names, typed constants, and the few helpers every
// gradient rule needs (opset-dependent reductions, undoing broadcasting, zeros shaped like a value).
import { AtmanError } from '../../core/errors';
import { describe } from '../ir/graph-utils';
import { DataType, type Graph, type Node } from '../ir/onnx-ir';
import { ConstantPool } from '../ir/constant-pool';
import { type AttrValue, makeNode, makeTensor } from '../ir/onnx-build';

export class BackwardEmitter {
  readonly nodes: Node[] = [];
  /** element types of the values this emitter made */
  private created = new Map<string, number | undefined>();
  /** the forward node whose gradient is being written (names values, errors) */
  current: Node | null = null;
  /** index tensors the caller vouches hold no repeated values (a Gather's gradient then needs no adding up) */
  distinctIndices = new Set<string>();

  constructor(
    readonly graph: Graph,
    private newName: (hint: string) => string,
    readonly opset: number,
    readonly elemType: (name: string) => number | undefined,
    readonly rank: (name: string) => number | undefined,
  ) {}

  name(hint: string): string {
    return this.newName(`grad/${this.current ? this.current.name || this.current.opType : 'seed'}/${hint}`);
  }

  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { domain?: string; out?: string } = {}): string {
    const o = opts.out ?? this.name(type);
    this.created.set(o, createdType(type, inputs, attrs, (x) => this.elemType(x) ?? this.created.get(x)));
    this.nodes.push(makeNode(type, inputs, [o], attrs, { name: this.name(`${type}_node`), domain: opts.domain }));
    return o;
  }

  private pool: ConstantPool | null = null;

  private constants(): ConstantPool {
    return (this.pool ??= new ConstantPool(this.graph, () => this.newName('grad/const'), (t) => this.refuse(`its values are of element type ${t}, not float32, float16, bfloat16 or double`)));
  }

  /** int64 constant: a scalar for a number, 1-D for an array. */
  i64(v: number | number[]): string {
    return this.constants().i64(v);
  }

  /** A float scalar in `dtype` (float32, float16, bfloat16 or double). */
  scalar(dtype: number, value: number): string {
    return this.constants().scalar(dtype, value);
  }

  /** A scalar of x's element type. */
  like(x: string, value: number): string {
    return this.scalar(this.typeOf(x), value);
  }

  typeOf(x: string): number {
    const t = this.elemType(x) ?? this.created.get(x);
    if (t === undefined) throw this.refuse(`the element type of "${x}" could not be inferred`);
    return t;
  }

  refuse(why: string): AtmanError {
    const what = this.current ? describe(this.current) : 'the graph';
    return new AtmanError('GRADIENT_UNSUPPORTED', `Gradients cannot be taken through ${what}: ${why}.`);
  }

  shape(x: string): string {
    return this.op('Shape', [x]);
  }

  /** ReduceSum/ReduceMean/… over constant axes, in the form the model's opset takes. */
  reduce(type: 'ReduceSum' | 'ReduceMean', x: string, axes: number[], keepdims = 1): string {
    const axesAsInput = type === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    return axesAsInput ? this.op(type, [x, this.i64(axes)], { keepdims }) : this.op(type, [x], { axes, keepdims });
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.opset >= 13 ? this.op('Unsqueeze', [x, this.i64(axes)]) : this.op('Unsqueeze', [x], { axes });
  }

  /** Zeros with x's shape and element type. */
  zerosLike(x: string): string {
    return this.op('ConstantOfShape', [this.shape(x)], { value: makeZeroTensor(this.typeOf(x)) });
  }

  /**
   * Sums a gradient shaped like a broadcast result back to the shape of the operand `x`: over the
   * leading axes x lacks and the axes where x has size 1, found at run time from both shapes, so
   * it works for dynamic shapes. The axes go in as an input, which ReduceSum takes from opset 13.
   */
  unbroadcast(g: string, x: string): string {
    const rx = this.rank(x);
    const rg = this.rank(g);
    if (this.opset < 13) throw this.refuse('undoing broadcasting needs opset 13 or later (ReduceSum with dynamic axes)');
    const sx = this.shape(x);
    const sg = this.shape(g);
    let padded = sx;
    if (rx === undefined || rg === undefined || rx !== rg) {
      // Left-pad x's shape with ones to g's rank.
      const missing = this.op('Sub', [this.op('Size', [sg]), this.op('Size', [sx])]);
      const ones = this.op('ConstantOfShape', [this.op('Reshape', [missing, this.i64([1])])], { value: makeOneInt64() });
      padded = this.op('Concat', [ones, sx], { axis: 0 });
    }
    const differs = this.op('Not', [this.op('Equal', [padded, sg])]);
    const axes = this.op('Reshape', [this.op('NonZero', [differs]), this.i64([-1])]);
    const summed = this.op('ReduceSum', [g, axes], { keepdims: 1, noop_with_empty_axes: 1 });
    return this.op('Reshape', [summed, sx]);
  }

  /** Transposes the last two axes. */
  swapLast(x: string): string | null {
    const r = this.rank(x);
    if (r === undefined || r < 2) return null;
    const perm = Array.from({ length: r }, (_, i) => i);
    [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
    return this.op('Transpose', [x], { perm });
  }

  /** Sum of contributions, or the one there is. */
  sum(parts: string[]): string {
    return parts.length === 1 ? parts[0]! : this.op('Sum', parts);
  }
}

const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'Not', 'And', 'Or', 'LessOrEqual', 'GreaterOrEqual']);

function createdType(type: string, inputs: string[], attrs: Record<string, AttrValue>, known: (x: string) => number | undefined): number | undefined {
  if (type === 'Cast') return Number(attrs.to);
  if (BOOL_OPS.has(type)) return DataType.BOOL;
  if (type === 'Shape' || type === 'Size' || type === 'NonZero') return DataType.INT64;
  if (type === 'ConstantOfShape') return (attrs.value as { dataType?: number } | undefined)?.dataType ?? DataType.FLOAT;
  for (const i of type === 'Where' ? inputs.slice(1) : inputs) {
    const t = known(i);
    if (t !== undefined) return t;
  }
  return undefined;
}

function makeZeroTensor(dtype: number) {
  if (dtype === DataType.DOUBLE) return makeTensor('value', DataType.DOUBLE, [1], Float64Array.of(0));
  if (dtype === DataType.FLOAT16) return makeTensor('value', DataType.FLOAT16, [1], Uint16Array.of(0));
  return makeTensor('value', DataType.FLOAT, [1], Float32Array.of(0));
}

const makeOneInt64 = () => makeTensor('value', DataType.INT64, [1], BigInt64Array.of(1n));
