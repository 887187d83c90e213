// Ops whose numbers for one sequence row depend on the other rows or batch items of the same
// tensor. AtMan's savings assume every row of every batch item is computed on its own: batching
// passes, starting a pass at its first changed row over a cached prefix, and gathering the scored
// rows before the LM head all change which rows share a tensor. On a graph with any of these ops
// they change the numbers.
import { constantNames, inferElemTypes, isFloatType } from './ir/graph-utils';
import { type Graph, type Model, type Node, attrInt, subgraphs, tensorPayload } from './ir/onnx-ir';

export interface CouplingOp {
  opType: string;
  node: string;
  /** what it couples, in words */
  why: string;
}

const REDUCE_OPS = new Set(['ReduceMax', 'ReduceMin', 'ReduceMean', 'ReduceSum', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);

/** Every op in the model (subgraphs included) that couples rows or batch items. */
export function findRowCoupling(model: Model): CouplingOp[] {
  const found: CouplingOp[] = [];
  visit(model.graph, new Map(), found);
  return found;
}

function visit(g: Graph, outerTypes: ReadonlyMap<string, number>, found: CouplingOp[]): void {
  const types = inferElemTypes(g, outerTypes);
  const consts = constantNames(g);
  const name = (n: Node) => n.name || n.outputs[0] || n.opType;
  for (const n of g.nodes) {
    const why = couplingOf(n, g, types, consts);
    if (why) found.push({ opType: n.opType, node: name(n), why });
    for (const sg of subgraphs(n)) visit(sg, types, found);
  }
}

function couplingOf(n: Node, g: Graph, types: ReadonlyMap<string, number>, consts: ReadonlySet<string>): string | null {
  const d = n.domain === 'ai.onnx' ? '' : n.domain;
  if (d === '' && n.opType === 'DynamicQuantizeLinear') {
    return 'quantizes its input to 8 bits with one scale and zero point over the whole tensor (all rows and batch items)';
  }
  if (d === 'com.microsoft' && (n.opType === 'DynamicQuantizeMatMul' || n.opType === 'DynamicQuantizeLSTM' || n.opType === 'QAttention')) {
    return 'quantizes its input activations with one scale over the whole tensor (all rows and batch items)';
  }
  if (d === '' && n.opType === 'BatchNormalization' && attrInt(n, 'training_mode', 0) === 1) {
    return 'normalizes with statistics taken over the batch';
  }
  if (d === '' && REDUCE_OPS.has(n.opType) && isFloatType(types.get(n.inputs[0]!)) && reducesEverything(n, g, consts)) {
    return 'reduces over every axis of an activation, rows and batch items together';
  }
  return null;
}

/** A Reduce* without axes (attribute or input) and without noop_with_empty_axes reduces every axis. */
function reducesEverything(n: Node, g: Graph, consts: ReadonlySet<string>): boolean {
  if (n.attributes.some((a) => a.name === 'axes')) return false;
  const axes = n.inputs[1];
  if (axes) {
    if (!consts.has(axes)) return false; // computed axes: cannot tell, say nothing
    const t = g.initializers.find((x) => x.name === axes);
    const p = t && tensorPayload(t);
    const count = p ? (p.rawData ? p.rawData.length / 8 : (p.int64Data?.length ?? 0)) : 1;
    if (count > 0) return false;
  }
  return attrInt(n, 'noop_with_empty_axes', 0) === 0;
}
