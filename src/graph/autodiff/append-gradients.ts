// Reverse-mode differentiation of an ONNX graph, written back into the graph as ordinary ONNX ops
// so the gradients run in the same session, on the same kernels, as the forward pass.
//
// Given a float output y and tensors x_1..x_n, the pass adds an input `atman_grad_seed` shaped like
// y and outputs `atman_grad.<x_i>` = d(sum(seed * y))/dx_i: a vector-Jacobian product. A seed of
// ones gives the gradient of the sum of y; a one-hot seed picks one element. Only the nodes lying
// between some x_i and y are differentiated (the "active" ones), and a rule writes only the input
// gradients that lead back to an x_i, so the backward graph holds what the requested gradients
// need and nothing else (no weight gradients: weights are constants here).
//
// Gradients of a value used several times are summed; each op's rule lives in rules/ by family.
// An op with no rule on the path stops the pass with GRADIENT_UNSUPPORTED naming it.
import { AtmanError } from '../../core/errors';
import { createNamer, describe, inferElemTypes, isFloatType, toposort } from '../ir/graph-utils';
import { type Model, type Node, opsetVersion } from '../ir/onnx-ir';
import { makeNode, makeValueInfo } from '../ir/onnx-build';
import { BackwardEmitter } from './emit';
import { constantInts, inferRanks } from './ranks';
import type { GradContext, GradRule } from './rule';
import { activationRules } from './rules/activations';
import { elementwiseRules } from './rules/elementwise';
import { matmulRules } from './rules/matmul';
import { normRules } from './rules/norms';
import { reductionRules } from './rules/reductions';
import { shapeRules } from './rules/shape-ops';

export const GRAD_SEED_INPUT = 'atman_grad_seed';
export const gradientOutputName = (of: string): string => `atman_grad.${of}`;

const RULES: Record<string, GradRule> = {
  ...elementwiseRules,
  ...matmulRules,
  ...reductionRules,
  ...normRules,
  ...activationRules,
  ...shapeRules,
};

const ruleKey = (n: Node): string => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType);

/** The op types the pass can differentiate (domain-qualified for onnxruntime's contrib ops). */
export const DIFFERENTIABLE_OPS: readonly string[] = Object.keys(RULES).sort();

export interface AppendGradientsOptions {
  /** the float output y (a graph output) */
  output: string;
  /** the tensors to differentiate with respect to: graph inputs or values computed inside the graph */
  wrt: readonly string[];
  /** index tensors that never repeat a value (target positions): their Gather needs no adding up */
  distinctIndices?: readonly string[];
}

export interface GradientOutput {
  of: string;
  output: string;
  /** false when y does not depend on this tensor (its gradient output is zeros) */
  reached: boolean;
}

export interface AppendGradientsReport {
  pass: 'appendGradients';
  seedInput: string;
  gradients: GradientOutput[];
  /** forward nodes on the path between the tensors and y, by op type */
  differentiated: Record<string, number>;
  /** nodes the backward graph added */
  backwardNodes: number;
}

export function appendGradients(model: Model, opts: AppendGradientsOptions): AppendGradientsReport {
  const g = model.graph;
  const out = g.outputs.find((o) => o.name === opts.output);
  if (!out) throw new AtmanError('GRADIENT_UNSUPPORTED', `The graph has no output "${opts.output}" to differentiate.`);
  if (opts.wrt.length === 0) throw new AtmanError('GRADIENT_UNSUPPORTED', 'No tensor was given to differentiate with respect to.');
  toposort(g);
  const types = inferElemTypes(g);
  const ranks = inferRanks(g);
  const defined = new Set([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name), ...g.nodes.flatMap((n) => n.outputs)]);
  for (const x of opts.wrt) {
    if (!defined.has(x)) throw new AtmanError('GRADIENT_UNSUPPORTED', `The graph has no value "${x}" to differentiate with respect to.`);
    if (!isFloatType(types.get(x))) throw new AtmanError('GRADIENT_UNSUPPORTED', `"${x}" is not a float tensor, so it has no gradient.`);
  }
  if (!isFloatType(types.get(opts.output))) throw new AtmanError('GRADIENT_UNSUPPORTED', `The output "${opts.output}" is not a float tensor.`);

  // Active values: float values downstream of some x that y depends on.
  const downstream = new Set(opts.wrt);
  for (const n of g.nodes) {
    if (n.inputs.some((i) => downstream.has(i))) for (const o of n.outputs) if (o && isFloatType(types.get(o))) downstream.add(o);
  }
  const upstream = new Set([opts.output]);
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k]!;
    if (n.outputs.some((o) => upstream.has(o))) for (const i of n.inputs) if (i) upstream.add(i);
  }
  const active = new Set([...downstream].filter((v) => upstream.has(v)));

  const newName = createNamer(model, 'atman_grad');
  const e = new BackwardEmitter(g, newName, opsetVersion(model), (x) => types.get(x), (x) => ranks.get(x));
  for (const d of opts.distinctIndices ?? []) e.distinctIndices.add(d);
  const grads = new Map<string, string[]>();
  const addGrad = (of: string, grad: string) => {
    types.set(grad, types.get(of)!);
    if (ranks.has(of)) ranks.set(grad, ranks.get(of)!);
    grads.set(of, [...(grads.get(of) ?? []), grad]);
  };
  const seedType = types.get(opts.output)!;
  g.inputs.push(makeValueInfo(GRAD_SEED_INPUT, seedType, out.dims ? [...out.dims] : null));
  types.set(GRAD_SEED_INPUT, seedType);
  if (active.has(opts.output)) addGrad(opts.output, GRAD_SEED_INPUT);

  const summed = new Map<string, string>();
  const gradOf = (v: string): string | null => {
    const parts = grads.get(v);
    if (!parts?.length) return null;
    let s = summed.get(v);
    if (!s) {
      s = e.sum(parts);
      types.set(s, types.get(v)!);
      if (ranks.has(v)) ranks.set(s, ranks.get(v)!);
      summed.set(v, s);
    }
    return s;
  };

  const differentiated: Record<string, number> = {};
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k]!;
    if (!n.outputs.some((o) => active.has(o) && grads.has(o))) continue;
    const needs = (i: number) => !!n.inputs[i] && active.has(n.inputs[i]!);
    if (!n.inputs.some((_, i) => needs(i))) continue;
    const rule = RULES[ruleKey(n)];
    if (!rule) {
      const sub = n.opType === 'If' ? ' (resolve the If of a merged decoder to one branch first)' : '';
      throw new AtmanError('GRADIENT_UNSUPPORTED', `Gradients cannot be taken through ${describe(n)}: the op ${ruleKey(n)} has no gradient rule${sub}. The ops covered are listed in docs/autodiff.md.`);
    }
    e.current = n;
    const c: GradContext = {
      node: n,
      e,
      gy: (i) => (n.outputs[i] && active.has(n.outputs[i]!) ? gradOf(n.outputs[i]!) : null),
      needs,
      give: (i, grad) => addGrad(n.inputs[i]!, grad),
      ints: (i) => (n.inputs[i] ? constantInts(g, n.inputs[i]!) : null),
    };
    rule(c);
    differentiated[ruleKey(n)] = (differentiated[ruleKey(n)] ?? 0) + 1;
  }
  e.current = null;

  const gradients: GradientOutput[] = [];
  const seen = new Set<string>();
  for (const x of opts.wrt) {
    if (seen.has(x)) continue;
    seen.add(x);
    const output = gradientOutputName(x);
    const grad = gradOf(x);
    e.nodes.push(makeNode('Identity', [grad ?? e.zerosLike(x)], [output], {}, { name: newName('grad/output') }));
    const info = [...g.inputs, ...g.valueInfo, ...g.outputs].find((v) => v.name === x);
    g.outputs.push(makeValueInfo(output, types.get(x)!, info?.dims ? [...info.dims] : null));
    gradients.push({ of: x, output, reached: grad !== null });
  }
  g.nodes.push(...e.nodes);
  toposort(g);
  return { pass: 'appendGradients', seedInput: GRAD_SEED_INPUT, gradients, differentiated, backwardNodes: e.nodes.length };
}
