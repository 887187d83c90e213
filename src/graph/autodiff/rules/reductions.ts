// Reductions and the softmax family.
import { attrInt } from '../../ir/onnx-ir';
import { type GradContext, type GradRule, gy0 } from '../rule';

/** The reduced axes (null = all) and keepdims, from the attribute or (newer opsets) the second input. */
function reduction(c: GradContext): { axes: number[] | null; keepdims: number } {
  const n = c.node;
  const keepdims = attrInt(n, 'keepdims', 1);
  const attr = n.attributes.find((a) => a.name === 'axes');
  let axes: number[] | null = attr?.ints ? attr.ints.map(Number) : null;
  if (!attr && n.inputs[1]) {
    axes = c.ints(1);
    if (!axes) throw c.e.refuse('its axes are not constant');
  }
  if (axes && axes.length === 0) {
    if (attrInt(n, 'noop_with_empty_axes', 0)) throw c.e.refuse('it reduces nothing (noop_with_empty_axes)');
    axes = null;
  }
  return { axes, keepdims };
}

/** The output gradient put back at x's rank (reduced axes of size 1), then expanded to x's shape. */
function spread(c: GradContext): string {
  const e = c.e;
  const x = c.node.inputs[0]!;
  const { axes, keepdims } = reduction(c);
  let g = gy0(c);
  if (!keepdims && axes) g = e.unsqueeze(g, axes);
  // With every axis reduced and keepdims 0 the gradient is a scalar, which Expand broadcasts as is.
  return e.op('Expand', [g, e.shape(x)]);
}

const reduceSum: GradRule = (c) => {
  if (c.needs(0)) c.give(0, spread(c));
};

const reduceMean: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const x = c.node.inputs[0]!;
  const y = c.node.outputs[0]!;
  // count = size(x) / size(y), from run-time sizes
  const count = e.op('Cast', [e.op('Div', [e.op('Size', [x]), e.op('Size', [y])])], { to: e.typeOf(x) });
  c.give(0, e.op('Div', [spread(c), count]));
};

/** ReduceMax/Min: the gradient goes to the elements equal to the extreme (ties share it whole, as a subgradient). */
const reduceExtreme: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const x = c.node.inputs[0]!;
  const { axes, keepdims } = reduction(c);
  let y = c.node.outputs[0]!;
  if (!keepdims && axes) y = e.unsqueeze(y, axes);
  const hit = e.op('Cast', [e.op('Equal', [x, y])], { to: e.typeOf(x) });
  c.give(0, e.op('Mul', [spread(c), hit]));
};

function softmaxAxis(c: GradContext): number {
  const n = c.node;
  const opset = c.e.opset;
  const axis = attrInt(n, 'axis', opset >= 13 ? -1 : 1);
  if (opset < 13) {
    // Before opset 13 the op flattened everything from `axis` on; that is one axis only when it is the last.
    const r = c.e.rank(n.inputs[0]!);
    if (!(axis === -1 || (r !== undefined && axis === r - 1))) throw c.e.refuse('before opset 13 only a softmax over the last axis is supported');
  }
  return axis;
}

/** dx = y * (g - sum(g * y)) over the softmax axis. */
const softmax: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const axis = softmaxAxis(c);
  const y = c.node.outputs[0]!;
  const g = gy0(c);
  const dot = e.reduce('ReduceSum', e.op('Mul', [g, y]), [axis]);
  c.give(0, e.op('Mul', [y, e.op('Sub', [g, dot])]));
};

/** dx = g - softmax(x) * sum(g) over the axis. */
const logSoftmax: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const axis = softmaxAxis(c);
  const g = gy0(c);
  const p = e.op('Exp', [c.node.outputs[0]!]);
  c.give(0, e.op('Sub', [g, e.op('Mul', [p, e.reduce('ReduceSum', g, [axis])])]));
};

export const reductionRules: Record<string, GradRule> = {
  ReduceSum: reduceSum,
  ReduceMean: reduceMean,
  ReduceMax: reduceExtreme,
  ReduceMin: reduceExtreme,
  Softmax: softmax,
  LogSoftmax: logSoftmax,
};
