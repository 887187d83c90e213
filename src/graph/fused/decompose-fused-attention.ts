// Rewrites onnxruntime's fused attention ops (com.microsoft GroupQueryAttention,
// Attention, MultiHeadAttention) into standard ONNX ops with the same numerics,
// so that their raw q·k scores become reachable and insertAttentionControl sees
// ordinary decomposed attention sites (multiplicative mode included). Every
// output name of a fused node is kept, so the rest of the graph is untouched.
import { createNamer, inferElemTypes, isFloatType, producers, toposort } from '../ir/graph-utils';
import type { Dim, Graph, Model, Node } from '../ir/onnx-ir';
import { opsetVersion, subgraphs } from '../ir/onnx-ir';
import { decomposeContribAttention } from './contrib-attention';
import { Emitter } from './emitter';
import type { FusedContext } from './context';
import { decomposeGroupQueryAttention } from './group-query-attention';
import { decomposeMultiHeadAttention } from './multi-head-attention';
import { StaticShapes } from './static-shapes';

export interface DecomposedNode {
  /** 'main', or the path of the subgraph: 'main/<If node>/then_branch' */
  graph: string;
  op: string;
  node: string;
  /** what was rewritten, in words: "packed QKV, rotary (interleaved), window 4, 4 query / 2 KV heads, ..." */
  variant: string;
}

export interface FusedDecompositionReport {
  pass: 'decomposeFusedAttention';
  nodes: DecomposedNode[];
}

type Decomposer = (ctx: FusedContext) => string;

const DECOMPOSERS: Record<string, Decomposer> = {
  GroupQueryAttention: decomposeGroupQueryAttention,
  Attention: decomposeContribAttention,
  MultiHeadAttention: decomposeMultiHeadAttention,
};

/** Inputs whose float type is the node's: the first float one decides. */
const TYPE_INPUTS: Record<string, number[]> = {
  GroupQueryAttention: [0, 1, 3, 7],
  Attention: [1, 2, 0, 4],
  MultiHeadAttention: [0, 1, 6, 3],
};

export interface DecomposeOptions {
  /**
   * The name of a 2-D [batch, total_sequence_length] graph input (the attention mask) whose zeros
   * should hide those key columns. GroupQueryAttention reads only each item's length from it
   * (seqlens_k), so a 0 in the middle of a row is ignored by the fused op; with this option the
   * rewrite takes every item's length from total_sequence_length and hides the zero columns
   * instead. With a mask of ones the numbers are the fused op's; with zeros inside the rows they
   * are those of attention that honours the mask (what occlusion by masking needs). Ops that already
   * read a per-key mask (Attention, MultiHeadAttention) are unaffected.
   */
  keyMask?: string;
}

export function decomposeFusedAttention(model: Model, opts: DecomposeOptions = {}): FusedDecompositionReport {
  const opset = opsetVersion(model);
  const newName = createNamer(model, 'fused');
  const nodes: DecomposedNode[] = [];
  const visit = (g: Graph, path: string, outerTypes: ReadonlyMap<string, number>, outerDims: ReadonlyMap<string, Dim[]>): void => {
    const types = inferElemTypes(g, outerTypes);
    const dims = new Map(outerDims);
    for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) if (v.dims) dims.set(v.name, v.dims);
    for (const t of g.initializers) dims.set(t.name, t.dims);
    const shapes = new StaticShapes(dims, producers(g), g);
    const rewritten: Node[] = [];
    for (const n of g.nodes) {
      const decompose = n.domain === 'com.microsoft' ? DECOMPOSERS[n.opType] : undefined;
      if (!decompose) {
        rewritten.push(n);
        for (const a of n.attributes) {
          (a.g ? [a.g] : (a.graphs ?? [])).forEach((sg, i) =>
            visit(sg, `${path}/${n.name || n.opType}/${a.name}${a.graphs ? `[${i}]` : ''}`, types, dims),
          );
        }
        continue;
      }
      const e = new Emitter(g, newName, opset, n);
      // Range and GatherElements, which the rewrite needs, exist from opset 11
      if (opset < 11) throw e.unsupported(`ONNX opset ${opset} (the rewrite needs 11 or later)`);
      const dtype = TYPE_INPUTS[n.opType]!.map((i) => types.get(n.inputs[i] ?? '')).find(isFloatType);
      if (dtype === undefined) throw e.unsupported('inputs whose float type the graph does not state');
      const ctx: FusedContext = { e, node: n, dtype, dims: (x) => shapes.of(x), rank: (x) => shapes.of(x)?.length };
      if (opts.keyMask) ctx.keyMask = opts.keyMask;
      const variant = decompose(ctx);
      rewritten.push(...e.nodes);
      nodes.push({ graph: path, op: n.opType, node: n.name || n.outputs[0]!, variant });
    }
    g.nodes = rewritten;
  };
  visit(model.graph, 'main', new Map(), new Map());
  toposort(model.graph);
  return { pass: 'decomposeFusedAttention', nodes };
}
