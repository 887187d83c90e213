// Ops that only move values: reshapes, transposes, broadcasts, and the indexing ops (Gather,
// Slice, Concat, Split). Gather and Slice send the gradient back through an index map: the same
// op applied to the flat positions of its input tells which input element each output element
// came from, and ScatterElements adds the gradient there. That covers every attribute form and
// any rank without knowing shapes ahead of time.
import { attrInt, getAttr } from '../../ir/onnx-ir';
import { makeNode } from '../../ir/onnx-build';
import { DataType } from '../../ir/onnx-ir';
import { makeTensor } from '../../ir/onnx-build';
import { type GradContext, type GradRule, gy0 } from '../rule';

const reshapeBack: GradRule = (c) => {
  if (c.needs(0)) c.give(0, c.e.op('Reshape', [gy0(c), c.e.shape(c.node.inputs[0]!)]));
};

const transpose: GradRule = (c) => {
  if (!c.needs(0)) return;
  const perm = getAttr(c.node, 'perm')?.ints?.map(Number);
  if (!perm) {
    c.give(0, c.e.op('Transpose', [gy0(c)])); // the default reverses the axes, its own inverse
    return;
  }
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  c.give(0, c.e.op('Transpose', [gy0(c)], { perm: inverse }));
};

const expand: GradRule = (c) => {
  if (c.needs(0)) c.give(0, c.e.unbroadcast(gy0(c), c.node.inputs[0]!));
};

/**
 * The index map: `positions` = the forward node re-run on the flat positions 0..n-1 of its data
 * input (shaped like it), then the gradient scattered (added) to those positions.
 */
function throughIndexMap(c: GradContext, repeats: boolean): string {
  const e = c.e;
  const n = c.node;
  const data = n.inputs[0]!;
  const shape = e.shape(data);
  const size = e.op('Size', [data]);
  const flat = e.op('Reshape', [e.op('Range', [e.i64(0), size, e.i64(1)]), shape]);
  const positions = e.name('positions');
  e.nodes.push(makeNode(n.opType, [flat, ...n.inputs.slice(1)], [positions], {}, { name: e.name(`${n.opType}_positions`), domain: n.domain }));
  e.nodes[e.nodes.length - 1]!.attributes = n.attributes;
  const zeros = e.op('ConstantOfShape', [e.op('Reshape', [size, e.i64([1])])], { value: zeroOf(e.typeOf(data)) });
  const idx = e.op('Reshape', [positions, e.i64([-1])]);
  const vals = e.op('Reshape', [gy0(c), e.i64([-1])]);
  let scattered: string;
  if (!repeats) scattered = e.op('ScatterElements', [zeros, idx, vals], { axis: 0 });
  else if (e.opset >= 16) scattered = e.op('ScatterElements', [zeros, idx, vals], { axis: 0, reduction: 'add' });
  else throw e.refuse('its indices may repeat, and adding up repeated positions needs opset 16 or later');
  return e.op('Reshape', [scattered, shape]);
}

const zeroOf = (dtype: number) =>
  dtype === DataType.DOUBLE ? makeTensor('value', dtype, [1], Float64Array.of(0)) : dtype === DataType.FLOAT16 ? makeTensor('value', dtype, [1], Uint16Array.of(0)) : makeTensor('value', DataType.FLOAT, [1], Float32Array.of(0));

const slice: GradRule = (c) => {
  if (c.needs(0)) c.give(0, throughIndexMap(c, false));
};

const gather: GradRule = (c) => {
  if (!c.needs(0)) return;
  const indices = c.node.inputs[1]!;
  const known = c.ints(1);
  const distinct = c.e.distinctIndices.has(indices) || (known !== null && new Set(known).size === known.length) || c.e.rank(indices) === 0;
  c.give(0, throughIndexMap(c, !distinct));
};

/** GatherElements picks single elements: the same index map as Gather. */
const gatherElements: GradRule = (c) => {
  if (!c.needs(0)) return;
  c.give(0, throughIndexMap(c, !c.e.distinctIndices.has(c.node.inputs[1]!)));
};

/** Concat: each input's slice of the gradient, at offsets summed from the inputs' run-time sizes. */
const concat: GradRule = (c) => {
  const e = c.e;
  const g = gy0(c);
  const axis = attrInt(c.node, 'axis', 0);
  const axes = e.i64([axis]);
  let start = e.i64([0]);
  c.node.inputs.forEach((x, i) => {
    const end = e.op('Add', [start, e.op('Gather', [e.shape(x), e.i64([axis])], { axis: 0 })]);
    if (c.needs(i)) c.give(i, e.op('Slice', [g, start, end, axes]));
    start = end;
  });
};

/** Split: the outputs' gradients joined again, zeros for outputs no gradient reaches. */
const split: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const parts = c.node.outputs.map((o, i) => c.gy(i) ?? e.zerosLike(o));
  c.give(0, e.op('Concat', parts, { axis: attrInt(c.node, 'axis', 0) }));
};

export const shapeRules: Record<string, GradRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transpose,
  Expand: expand,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  Concat: concat,
  Split: split,
};
