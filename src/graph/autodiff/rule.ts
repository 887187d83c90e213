// What a gradient rule sees: the forward node, the gradients reaching its outputs, which inputs
// need one, and the emitter to write the backward ops with.
import type { Node } from '../ir/onnx-ir';
import type { BackwardEmitter } from './emit';

export interface GradContext {
  node: Node;
  e: BackwardEmitter;
  /** the gradient reaching output i (same shape as that output), null when none flows there */
  gy(i: number): string | null;
  /** whether input i needs a gradient (it lies between a differentiated tensor and the output) */
  needs(i: number): boolean;
  /** adds a contribution (shaped like input i) to input i's gradient */
  give(i: number, g: string): void;
  /** input i's value when it is a constant of integers (axes, perms, split sizes), else null */
  ints(i: number): number[] | null;
}

/** Writes the vector-Jacobian product of one forward node. */
export type GradRule = (c: GradContext) => void;

/** The gradient at output 0, which every single-output rule starts from. */
export const gy0 = (c: GradContext): string => {
  const g = c.gy(0);
  if (!g) throw c.e.refuse('no gradient reaches its output');
  return g;
};
