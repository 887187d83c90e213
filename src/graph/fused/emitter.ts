// Builds the standard-op replacement of one fused node: fresh value names,
// int64 and float constants as initializers of the node's own graph, and the
// few ops whose form changed across opsets (Unsqueeze, Squeeze, Split take
// their axes as an attribute before opset 13, as an input from 13 on).
import { AtmanError } from '../../core/errors';
import { describe } from '../ir/graph-utils';
import { DataType, type Graph, type Node } from '../ir/onnx-ir';
import { ConstantPool } from '../ir/constant-pool';
import { type AttrValue, makeNode, makeValueInfo } from '../ir/onnx-build';

export class Emitter {
  readonly nodes: Node[] = [];

  constructor(
    readonly graph: Graph,
    private newName: (hint: string) => string,
    readonly opset: number,
    /** the fused node being replaced: names new values and errors */
    readonly fused: Node,
  ) {}

  name(hint: string): string {
    return this.newName(`${this.fused.name || this.fused.opType}/${hint}`);
  }

  /** Adds a node writing `out` (fresh when not given); returns its output. */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    const o = out ?? this.name(type);
    this.nodes.push(makeNode(type, inputs, [o], attrs, { name: this.name(`${type}_node`) }));
    return o;
  }

  opN(type: string, inputs: string[], n: number, attrs: Record<string, AttrValue> = {}): string[] {
    const outs = Array.from({ length: n }, () => this.name(type));
    this.nodes.push(makeNode(type, inputs, outs, attrs, { name: this.name(`${type}_node`) }));
    return outs;
  }

  private pool: ConstantPool | null = null;

  /** Constants live in the node's own graph, named after the fused node. */
  private constants(): ConstantPool {
    return (this.pool ??= new ConstantPool(this.graph, () => this.name('const'), (t) => this.unsupported(`its element type ${t}`)));
  }

  /** int64 constant: a scalar for a number, 1-D for an array. */
  i64(v: number | number[]): string {
    return this.constants().i64(v);
  }

  /** Float scalar in `dtype` (float32, float16, bfloat16 or double). */
  scalar(dtype: number, value: number): string {
    return this.constants().scalar(dtype, value);
  }

  /**
   * States a value's element type in the graph, for passes that run after this one and infer
   * types by propagation (which cannot see through contrib ops such as EmbedLayerNormalization).
   */
  typed(x: string, elemType: number): string {
    this.graph.valueInfo.push(makeValueInfo(x, elemType, null));
    return x;
  }

  cast(x: string, from: number, to: number): string {
    return from === to ? x : this.op('Cast', [x], { to });
  }

  /** Elementwise min/max by Where: Min and Max take int64 only from opset 12. */
  min(a: string, b: string): string {
    return this.op('Where', [this.op('Less', [a, b]), a, b]);
  }

  max(a: string, b: string): string {
    return this.op('Where', [this.op('Less', [a, b]), b, a]);
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.opset >= 13 ? this.op('Unsqueeze', [x, this.i64(axes)]) : this.op('Unsqueeze', [x], { axes });
  }

  squeeze(x: string, axes: number[]): string {
    return this.opset >= 13 ? this.op('Squeeze', [x, this.i64(axes)]) : this.op('Squeeze', [x], { axes });
  }

  split(x: string, axis: number, sizes: number[]): string[] {
    return this.opset >= 13
      ? this.opN('Split', [x, this.i64(sizes)], sizes.length, { axis })
      : this.opN('Split', [x], sizes.length, { axis, split: sizes });
  }

  /** Slice with constant bounds on the given axes. */
  slice(x: string, starts: number[], ends: number[], axes: number[]): string {
    return this.op('Slice', [x, this.i64(starts), this.i64(ends), this.i64(axes)]);
  }

  private dims = new Map<string, string>();

  /** Dimension `i` of x as a 1-D int64 [1]. */
  dim(x: string, i: number): string {
    const key = `${x}\u0000${i}`;
    let d = this.dims.get(key);
    if (!d) this.dims.set(key, (d = this.op('Gather', [this.op('Shape', [x]), this.i64([i])], { axis: 0 })));
    return d;
  }

  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.i64(shape)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm });
  }

  /** [B,S,N*H] -> [B,N,S,H] */
  toHeads(x: string, heads: number, headSize: number): string {
    return this.transpose(this.reshape(x, [0, 0, heads, headSize]), [0, 2, 1, 3]);
  }

  /** [B,N,S,H] -> [B,S,N*H], written to `out` when given */
  fromHeads(x: string, hidden: number, out?: string): string {
    return this.op('Reshape', [this.transpose(x, [0, 2, 1, 3]), this.i64([0, 0, hidden])], {}, out);
  }

  /** HF's repeat_kv: [B,Nkv,T,H] -> [B,Nkv*groups,T,H], each KV head repeated for its group of query heads. */
  repeatHeads(x: string, kvHeads: number, groups: number, headSize: number): string {
    if (groups === 1) return x;
    const expanded = this.op('Expand', [this.unsqueeze(x, [2]), this.i64([1, 1, groups, 1, 1])]);
    return this.reshape(expanded, [0, kvHeads * groups, -1, headSize]);
  }

  unsupported(what: string): AtmanError {
    return new AtmanError(
      'MODEL_UNSUPPORTED',
      `This model's fused ${this.fused.opType} node (${describe(this.fused)}) uses ${what}, which AtMan cannot rewrite into standard attention yet.`,
    );
  }
}
