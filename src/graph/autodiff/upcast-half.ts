// Graphs that compute in float16 get their gradients in float32: the backward graph of an fp16
// model would add its rounding (three decimal digits) to every gradient, and some CPU kernels
// have no fp16 form. The pass makes the graph compute in float32 over the fp16 weights as stored:
// every fp16 constant (initializer, Constant, ConstantOfShape) is read through a Cast to float32
// (the weights keep their fp16 values, and external data stays where it is), Casts to fp16 cast
// to float32 instead, and fp16 inputs and outputs become float32. The forward values are then
// those of the fp16 weights in float32 arithmetic, not the fp16 kernels' numbers.
import { AtmanError } from '../../core/errors';
import { createNamer, describe, inferElemTypes } from '../ir/graph-utils';
import { DataType, type Model, type Node, attrInt, getAttr, subgraphs } from '../ir/onnx-ir';
import { makeNode } from '../ir/onnx-build';

export interface UpcastHalfReport {
  pass: 'upcastHalf';
  /** fp16 constants now read through a Cast to float32 */
  constants: number;
  /** Casts to fp16 retargeted to float32 */
  casts: number;
  /** graph inputs and outputs retyped */
  io: string[];
}

export function upcastHalf(model: Model): UpcastHalfReport {
  const g = model.graph;
  const report: UpcastHalfReport = { pass: 'upcastHalf', constants: 0, casts: 0, io: [] };
  const half = (t: number | undefined) => t === DataType.FLOAT16;
  const types = inferElemTypes(g);
  if (![...types.values()].some(half)) return report;
  for (const n of g.nodes) {
    if (subgraphs(n).length) throw new AtmanError('GRADIENT_UNSUPPORTED', `The fp16 graph holds ${describe(n)} with a subgraph, which the float32 upcast for gradients does not rewrite.`);
  }
  const newName = createNamer(model, 'atman_f32');
  // value -> its float32 stand-in, for every fp16 constant
  const widened = new Map<string, string>();
  const casts: Node[] = [];
  const widen = (value: string): void => {
    const to = newName(`${value}_f32`);
    widened.set(value, to);
    casts.push(makeNode('Cast', [value], [to], { to: DataType.FLOAT }, { name: `${to}_node` }));
    report.constants++;
  };
  for (const t of g.initializers) if (half(t.dataType)) widen(t.name);
  const after = new Map<Node, Node[]>();
  for (const n of g.nodes) {
    if (n.opType === 'Cast' && half(attrInt(n, 'to', 0))) {
      getAttr(n, 'to')!.i = BigInt(DataType.FLOAT);
      report.casts++;
    } else if ((n.opType === 'Constant' || n.opType === 'ConstantOfShape') && half(types.get(n.outputs[0]!))) {
      const before = casts.length;
      widen(n.outputs[0]!);
      after.set(n, casts.splice(before));
    }
  }
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => widened.get(i) ?? i);
  for (const o of g.outputs) if (widened.has(o.name)) throw new AtmanError('GRADIENT_UNSUPPORTED', `The graph output ${o.name} is an fp16 constant.`);
  g.nodes = [...casts, ...g.nodes.flatMap((n) => [n, ...(after.get(n) ?? [])])];
  for (const v of [...g.inputs, ...g.outputs]) {
    if (!half(v.elemType)) continue;
    v.elemType = DataType.FLOAT;
    delete v.raw;
    report.io.push(v.name);
  }
  // Shapes stay, types go: value_info of fp16 values would contradict the float32 graph.
  g.valueInfo = g.valueInfo.filter((v) => !half(v.elemType));
  const left = [...inferElemTypes(g)].filter(([name, t]) => half(t) && !widened.has(name));
  if (left.length) throw new AtmanError('GRADIENT_UNSUPPORTED', `The float32 upcast for gradients left fp16 values (${left.slice(0, 3).map(([n]) => n).join(', ')}): an op makes fp16 by itself.`);
  return report;
}
