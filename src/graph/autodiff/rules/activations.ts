// GELU in its fused forms. The exported tanh and erf forms are built from Mul/Pow/Tanh/Erf/Add and
// need no rule; SiLU is Sigmoid * x, likewise.
import { getAttr } from '../../ir/onnx-ir';
import type { BackwardEmitter } from '../emit';
import { type GradRule, gy0 } from '../rule';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** d/dx of x * Phi(x) = Phi(x) + x * phi(x). */
function erfGeluDeriv(e: BackwardEmitter, x: string): string {
  const cdf = e.op('Mul', [e.like(x, 0.5), e.op('Add', [e.like(x, 1), e.op('Erf', [e.op('Mul', [x, e.like(x, Math.SQRT1_2)])])])]);
  const pdf = e.op('Mul', [e.like(x, 1 / Math.sqrt(2 * Math.PI)), e.op('Exp', [e.op('Mul', [e.op('Mul', [x, x]), e.like(x, -0.5)])])]);
  return e.op('Add', [cdf, e.op('Mul', [x, pdf])]);
}

/** d/dx of 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). */
function tanhGeluDeriv(e: BackwardEmitter, x: string): string {
  const x2 = e.op('Mul', [x, x]);
  const u = e.op('Mul', [e.like(x, SQRT_2_OVER_PI), e.op('Add', [x, e.op('Mul', [e.like(x, 0.044715), e.op('Mul', [x2, x])])])]);
  const t = e.op('Tanh', [u]);
  const du = e.op('Mul', [e.like(x, SQRT_2_OVER_PI), e.op('Add', [e.like(x, 1), e.op('Mul', [e.like(x, 3 * 0.044715), x2])])]);
  const sech2 = e.op('Sub', [e.like(x, 1), e.op('Mul', [t, t])]);
  const half = e.like(x, 0.5);
  return e.op('Add', [e.op('Mul', [half, e.op('Add', [e.like(x, 1), t])]), e.op('Mul', [e.op('Mul', [half, x]), e.op('Mul', [sech2, du])])]);
}

/** GELU of input 0 (+ bias at input 1 for FastGelu / BiasGelu): the gradient goes to both. */
const gelu = (form: 'erf' | 'tanh' | 'attr'): GradRule => (c) => {
  const e = c.e;
  const [x0, bias] = c.node.inputs as [string, string?];
  if (!c.needs(0) && !(bias && c.needs(1))) return;
  const x = bias ? e.op('Add', [x0, bias]) : x0;
  const approx = form === 'attr' ? new TextDecoder().decode(getAttr(c.node, 'approximate')?.s ?? new Uint8Array()) || 'none' : form === 'tanh' ? 'tanh' : 'none';
  const d = e.op('Mul', [gy0(c), approx === 'tanh' ? tanhGeluDeriv(e, x) : erfGeluDeriv(e, x)]);
  if (c.needs(0)) c.give(0, e.unbroadcast(d, x0));
  if (bias && c.needs(1)) c.give(1, e.unbroadcast(d, bias));
};

/** QuickGelu: x * sigmoid(alpha x). */
const quickGelu: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const x = c.node.inputs[0]!;
  const alpha = e.like(x, getAttr(c.node, 'alpha')?.f ?? 1.702);
  const s = e.op('Sigmoid', [e.op('Mul', [x, alpha])]);
  const d = e.op('Add', [s, e.op('Mul', [e.op('Mul', [x, alpha]), e.op('Mul', [s, e.op('Sub', [e.like(x, 1), s])])])]);
  c.give(0, e.op('Mul', [gy0(c), d]));
};

export const activationRules: Record<string, GradRule> = {
  Gelu: gelu('attr'),
  'com.microsoft:Gelu': gelu('erf'),
  'com.microsoft:BiasGelu': gelu('erf'),
  'com.microsoft:FastGelu': gelu('tanh'),
  'com.microsoft:QuickGelu': quickGelu,
};
