// Merged decoders (optimum's decoder_model_merged) pick their graph with an If on the boolean input
// `use_cache_branch`. The gradient runs always start without a cache, so the If is replaced by its
// no-cache branch (else_branch), inlined into the main graph: the backward pass then sees one plain
// graph. Names inside the branch are renamed where they would clash with the main graph's.
import { AtmanError } from '../../core/errors';
import { createNamer, describe, replaceUses } from '../ir/graph-utils';
import { type Graph, type Model, getAttr, subgraphs } from '../ir/onnx-ir';
import { makeNode } from '../ir/onnx-build';

export const USE_CACHE_BRANCH = 'use_cache_branch';

export interface ResolveIfReport {
  pass: 'resolveMergedIf';
  /** If nodes replaced by their no-cache branch */
  resolved: string[];
}

export function resolveMergedIf(model: Model): ResolveIfReport {
  const g = model.graph;
  const resolved: string[] = [];
  const newName = createNamer(model, 'atman_if');
  for (let k = 0; k < g.nodes.length; k++) {
    const n = g.nodes[k]!;
    if (n.opType !== 'If') continue;
    if (n.inputs[0] !== USE_CACHE_BRANCH) {
      throw new AtmanError('GRADIENT_UNSUPPORTED', `Gradients cannot be taken through ${describe(n)}: only the If of a merged decoder (on ${USE_CACHE_BRANCH}) can be resolved to one branch.`);
    }
    const branch = getAttr(n, 'else_branch')?.g;
    if (!branch) throw new AtmanError('GRADIENT_UNSUPPORTED', `${describe(n)} has no else_branch to take.`);
    const inlined = renameLocals(branch, g, newName);
    const bridges = inlined.outputs.map((o, i) => makeNode('Identity', [o.name], [n.outputs[i]!], {}, { name: newName('branch_output') }));
    g.initializers.push(...inlined.initializers);
    g.nodes.splice(k, 1, ...inlined.nodes, ...bridges);
    k += inlined.nodes.length + bridges.length - 1;
    resolved.push(n.name || n.outputs[0]!);
  }
  return { pass: 'resolveMergedIf', resolved };
}

/** The branch with every value it defines renamed where the name is taken outside it. */
function renameLocals(branch: Graph, outer: Graph, newName: (h: string) => string): Graph {
  const taken = new Set<string>([...outer.inputs.map((v) => v.name), ...outer.initializers.map((t) => t.name)]);
  for (const n of outer.nodes) {
    for (const o of n.outputs) taken.add(o);
  }
  const locals = [...branch.initializers.map((t) => t.name), ...branch.nodes.flatMap((n) => n.outputs)];
  const b: Graph = { ...branch, nodes: branch.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs] })), initializers: branch.initializers.map((t) => ({ ...t })), outputs: branch.outputs.map((o) => ({ ...o })) };
  for (const name of locals) {
    if (!name || !taken.has(name)) continue;
    const fresh = newName(name);
    replaceUses(b.nodes, name, fresh);
    for (const n of b.nodes) n.outputs = n.outputs.map((o) => (o === name ? fresh : o));
    for (const t of b.initializers) if (t.name === name) t.name = fresh;
    for (const o of b.outputs) if (o.name === name) o.name = fresh;
  }
  if (b.nodes.some((n) => subgraphs(n).length)) {
    throw new AtmanError('GRADIENT_UNSUPPORTED', 'The no-cache branch of this merged decoder holds further subgraphs, which the gradient pass cannot flatten.');
  }
  return b;
}
