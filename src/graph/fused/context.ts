// What each op's rewrite gets: the emitter, the node, its float type, and
// the static shapes the graph states or implies.
import type { Dim, Node } from '../ir/onnx-ir';
import type { Emitter } from './emitter';

export interface FusedContext {
  e: Emitter;
  node: Node;
  /** element type of the node's float tensors */
  dtype: number;
  /** rank of a value when the graph states or implies it */
  rank: (name: string) => number | undefined;
  /** dims of a value when the graph states or implies them */
  dims: (name: string) => Dim[] | undefined;
  /**
   * A graph input [batch, total] whose zeros must hide key columns (see DecomposeOptions.keyMask);
   * undefined keeps the op's own reading of lengths.
   */
  keyMask?: string;
}

/**
 * The head size, from the first value whose shape the graph states: [name, axis (-1 = last),
 * heads sharing that axis]. Reshapes need it as a number, and the default scale is 1/sqrt of it.
 */
export function headSize(ctx: FusedContext, candidates: Array<[string, number, number]>): number {
  for (const [x, axis, heads] of candidates) {
    if (!x) continue;
    const d = ctx.dims(x);
    const v = d?.[axis < 0 ? d.length + axis : axis];
    if (typeof v === 'number' && v > 0 && v % heads === 0) return v / heads;
  }
  throw ctx.e.unsupported('inputs whose hidden size the graph does not state, so its head size cannot be known');
}

