// Layer normalisation, exported as one op (LayerNormalization) or fused by onnxruntime's tools
// (SimplifiedLayerNormalization = RMSNorm, SkipLayerNormalization and SkipSimplifiedLayerNormalization,
// which add a residual first). The exported decomposed form (ReduceMean/Sub/Pow/Sqrt/Div) needs no
// rule of its own. Scale and bias are weights: no gradient for them.
import { attrInt, getAttr } from '../../ir/onnx-ir';
import type { BackwardEmitter } from '../emit';
import { type GradContext, type GradRule } from '../rule';

/**
 * dx of y = scale * xhat (+ bias) with xhat = (x - mean) * inv (centred) or x * inv (RMS), over `axes`:
 * dx = inv * (gh - [mean(gh)] - xhat * mean(gh * xhat)), gh = g * scale.
 */
function normBackward(e: BackwardEmitter, x: string, g: string, scale: string, axes: number[], eps: number, centred: boolean): string {
  const mean = (v: string) => e.reduce('ReduceMean', v, axes);
  const xc = centred ? e.op('Sub', [x, mean(x)]) : x;
  const variance = mean(e.op('Mul', [xc, xc]));
  const inv = e.op('Reciprocal', [e.op('Sqrt', [e.op('Add', [variance, e.like(x, eps)])])]);
  const xhat = e.op('Mul', [xc, inv]);
  const gh = e.op('Mul', [g, e.op('Cast', [scale], { to: e.typeOf(x) })]);
  let inner = e.op('Sub', [gh, e.op('Mul', [xhat, mean(e.op('Mul', [gh, xhat]))])]);
  if (centred) inner = e.op('Sub', [inner, mean(gh)]);
  return e.op('Mul', [inv, inner]);
}

function normAxes(c: GradContext, axis: number): number[] {
  if (axis < 0) return Array.from({ length: -axis }, (_, i) => axis + i);
  const r = c.e.rank(c.node.inputs[0]!);
  if (r === undefined) throw c.e.refuse('its normalised axes are given from the front and the input rank is unknown');
  return Array.from({ length: r - axis }, (_, i) => axis + i);
}

const eps = (c: GradContext, dflt: number): number => getAttr(c.node, 'epsilon')?.f ?? dflt;

const refuseStats = (c: GradContext, from: number): void => {
  for (let i = from; i < from + 2; i++) if (c.gy(i)) throw c.e.refuse('its mean / inverse standard deviation outputs are used on the gradient path');
};

const layerNorm = (centred: boolean): GradRule => (c) => {
  if (!c.needs(0)) return;
  refuseStats(c, 1);
  const g = c.gy(0)!;
  const axes = normAxes(c, attrInt(c.node, 'axis', -1));
  c.give(0, normBackward(c.e, c.node.inputs[0]!, g, c.node.inputs[1]!, axes, eps(c, 1e-5), centred));
};

/** Skip variants: s = input + skip (+ bias) is normalised; output 3, when present, is s itself. */
const skipLayerNorm = (centred: boolean): GradRule => (c) => {
  const e = c.e;
  const [input, skip, gamma] = c.node.inputs as [string, string, string];
  const biasIndex = centred ? 4 : 3;
  refuseStats(c, 1);
  const parts: string[] = [];
  const g = c.gy(0);
  const s = c.node.outputs[3] || null;
  if (g) {
    // s is only an optional output: rebuild it when the graph does not keep it.
    let sum = s;
    if (!sum) {
      sum = e.op('Add', [input, skip]);
      const bias = c.node.inputs[biasIndex];
      if (bias) sum = e.op('Add', [sum, bias]);
    }
    parts.push(normBackward(e, sum, g, gamma, [-1], eps(c, 1e-12), centred));
  }
  const gs3 = c.gy(3);
  if (gs3) parts.push(gs3);
  if (!parts.length) return;
  const gs = e.sum(parts);
  if (c.needs(0)) c.give(0, e.unbroadcast(gs, input));
  if (c.needs(1)) c.give(1, e.unbroadcast(gs, skip));
};

export const normRules: Record<string, GradRule> = {
  LayerNormalization: layerNorm(true),
  'com.microsoft:LayerNormalization': layerNorm(true),
  SimplifiedLayerNormalization: layerNorm(false),
  'com.microsoft:SimplifiedLayerNormalization': layerNorm(false),
  'com.microsoft:SkipLayerNormalization': skipLayerNorm(true),
  'com.microsoft:SkipSimplifiedLayerNormalization': skipLayerNorm(false),
};
