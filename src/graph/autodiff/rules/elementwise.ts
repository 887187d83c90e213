// Elementwise arithmetic and unary functions. Binary ops broadcast, so each operand's gradient is
// summed back to that operand's shape (BackwardEmitter.unbroadcast).
import { attrInt } from '../../ir/onnx-ir';
import { type GradContext, type GradRule, gy0 } from '../rule';

const binary = (c: GradContext, i: number, g: string): void => c.give(i, c.e.unbroadcast(g, c.node.inputs[i]!));

const add: GradRule = (c) => {
  const g = gy0(c);
  for (const i of [0, 1]) if (c.needs(i)) binary(c, i, g);
};

const sub: GradRule = (c) => {
  const g = gy0(c);
  if (c.needs(0)) binary(c, 0, g);
  if (c.needs(1)) binary(c, 1, c.e.op('Neg', [g]));
};

const mul: GradRule = (c) => {
  const g = gy0(c);
  const [a, b] = c.node.inputs as [string, string];
  if (c.needs(0)) binary(c, 0, c.e.op('Mul', [g, b]));
  if (c.needs(1)) binary(c, 1, c.e.op('Mul', [g, a]));
};

const div: GradRule = (c) => {
  const g = gy0(c);
  const [, b] = c.node.inputs as [string, string];
  const y = c.node.outputs[0]!;
  if (c.needs(0)) binary(c, 0, c.e.op('Div', [g, b]));
  // d(a/b)/db = -(a/b)/b
  if (c.needs(1)) binary(c, 1, c.e.op('Neg', [c.e.op('Div', [c.e.op('Mul', [g, y]), b])]));
};

const pow: GradRule = (c) => {
  const g = gy0(c);
  const e = c.e;
  const [a, b] = c.node.inputs as [string, string];
  const y = c.node.outputs[0]!;
  if (c.needs(0)) {
    const bA = e.op('Cast', [b], { to: e.typeOf(a) });
    const da = e.op('Mul', [bA, e.op('Pow', [a, e.op('Sub', [b, e.scalar(e.typeOf(b), 1)])])]);
    binary(c, 0, e.op('Mul', [g, da]));
  }
  if (c.needs(1)) binary(c, 1, e.op('Mul', [g, e.op('Mul', [y, e.op('Log', [a])])]));
};

/** y = f(x) with dy/dx written from x and y. */
const unary = (deriv: (c: GradContext, x: string, y: string) => string): GradRule => (c) => {
  if (!c.needs(0)) return;
  c.give(0, c.e.op('Mul', [gy0(c), deriv(c, c.node.inputs[0]!, c.node.outputs[0]!)]));
};

const sqrt = unary((c, _x, y) => c.e.op('Div', [c.e.like(y, 0.5), y]));
const exp = unary((_c, _x, y) => y);
const log = unary((c, x) => c.e.op('Reciprocal', [x]));
const reciprocal = unary((c, _x, y) => c.e.op('Neg', [c.e.op('Mul', [y, y])]));
const tanh = unary((c, _x, y) => c.e.op('Sub', [c.e.like(y, 1), c.e.op('Mul', [y, y])]));
const sigmoid = unary((c, _x, y) => c.e.op('Mul', [y, c.e.op('Sub', [c.e.like(y, 1), y])]));
// d erf(x)/dx = 2/sqrt(pi) exp(-x^2)
const erf = unary((c, x) => c.e.op('Mul', [c.e.like(x, 2 / Math.sqrt(Math.PI)), c.e.op('Exp', [c.e.op('Neg', [c.e.op('Mul', [x, x])])])]));
const relu = unary((c, x) => c.e.op('Cast', [c.e.op('Greater', [x, c.e.like(x, 0)])], { to: c.e.typeOf(x) }));
const abs = unary((c, x) => c.e.op('Sign', [x]));

const neg: GradRule = (c) => {
  if (c.needs(0)) c.give(0, c.e.op('Neg', [gy0(c)]));
};

const identity: GradRule = (c) => {
  if (c.needs(0)) c.give(0, gy0(c));
};

const cast: GradRule = (c) => {
  if (c.needs(0)) c.give(0, c.e.op('Cast', [gy0(c)], { to: c.e.typeOf(c.node.inputs[0]!) }));
};

const where: GradRule = (c) => {
  const g = gy0(c);
  const [cond, a, b] = c.node.inputs as [string, string, string];
  const zero = c.e.like(g, 0);
  if (c.needs(1)) binary(c, 1, c.e.op('Where', [cond, g, zero]));
  if (c.needs(2)) binary(c, 2, c.e.op('Where', [cond, zero, g]));
  void a;
  void b;
};

/** Clip passes the gradient where x lies inside [min, max]. */
const clip: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const x = c.node.inputs[0]!;
  const y = c.node.outputs[0]!;
  const inside = e.op('Cast', [e.op('Equal', [x, y])], { to: e.typeOf(x) });
  c.give(0, e.op('Mul', [gy0(c), inside]));
};

/** Dropout at inference is the identity (its mask output carries no gradient). */
const dropout: GradRule = (c) => {
  if (attrInt(c.node, 'training_mode', 0) !== 0) throw c.e.refuse('it runs in training mode');
  identity(c);
};

export const elementwiseRules: Record<string, GradRule> = {
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Pow: pow,
  Sqrt: sqrt,
  Exp: exp,
  Log: log,
  Reciprocal: reciprocal,
  Tanh: tanh,
  Sigmoid: sigmoid,
  Erf: erf,
  Relu: relu,
  Abs: abs,
  Neg: neg,
  Identity: identity,
  Cast: cast,
  Where: where,
  Clip: clip,
  Dropout: dropout,
};
