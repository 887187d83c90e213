// Conceptual suppression (docs/method.md, "Conceptual suppression"): a unit also drags along positions whose input embedding
// is close to one of its seeds, so near-duplicates cannot carry the suppressed information.

import type { Unit } from './types';

/** Similarity of sequence positions i and k (cosine of their input embeddings). */
export type Similarity = (i: number, k: number) => number;

// The matrix is stored as float32, so a cosine of exactly kappa can come back a hair below it;
// this tolerance keeps "cos >= kappa" meaning what the user typed.
const KAPPA_TOLERANCE = 1e-6;

/** Row-major n*n cosine similarities of n embedding rows of length dim; a zero vector has similarity 0 to everything. */
export function cosineSimilarityMatrix(embeddings: ArrayLike<number>, n: number, dim: number): Float32Array {
  if (embeddings.length < n * dim) throw new RangeError(`expected ${n}x${dim} embeddings, got ${embeddings.length} values`);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += embeddings[i * dim + d]! ** 2;
    norms[i] = Math.sqrt(s);
  }
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = i; k < n; k++) {
      let cos = 0;
      if (norms[i]! > 0 && norms[k]! > 0) {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += embeddings[i * dim + d]! * embeddings[k * dim + d]!;
        cos = Math.max(-1, Math.min(1, dot / (norms[i]! * norms[k]!)));
      }
      out[i * n + k] = cos;
      out[k * n + i] = cos;
    }
  }
  return out;
}

/** Wraps a row-major n*n matrix as a Similarity. */
export const similarityFromMatrix =
  (matrix: ArrayLike<number>, n: number): Similarity =>
  (i, k) =>
    matrix[i * n + k]!;

/**
 * Column factors phi (1 = untouched) of one unit over the whole sequence.
 * Seed p with coverage c gets 1 - c*(1-f); with kappa set, any other position k with
 * cos(p, k) >= kappa gets 1 - cos*c*(1-f). Where several seeds reach a position the strongest
 * effect wins: the smallest phi when suppressing (f < 1), the largest when amplifying (f > 1).
 */
export function unitFactors(
  unit: Unit,
  seqLen: number,
  factor: number,
  kappa: number | null,
  similarity: Similarity,
): Float32Array {
  // Every candidate is 1 - w*(1-f) with w in [0, 1], so "strongest" is the one furthest from 1.
  const phi = new Float64Array(seqLen).fill(1);
  const offer = (k: number, value: number) => {
    if (Math.abs(1 - value) > Math.abs(1 - phi[k]!)) phi[k] = value;
  };
  unit.positions.forEach((p, j) => {
    if (!(Number.isInteger(p) && p >= 0 && p < seqLen)) throw new RangeError(`unit position ${p} outside sequence of ${seqLen}`);
    const seedStrength = (unit.coverage?.[j] ?? 1) * (1 - factor);
    offer(p, 1 - seedStrength);
    if (kappa === null) return;
    for (let k = 0; k < seqLen; k++) {
      if (k === p) continue;
      const cos = Math.min(1, similarity(p, k));
      if (cos >= kappa - KAPPA_TOLERANCE && cos > 0) offer(k, 1 - cos * seedStrength);
    }
  });
  return Float32Array.from(phi);
}

export interface DraggedPosition {
  position: number;
  /** the highest similarity to any seed of the unit */
  similarity: number;
  /** the seed position that similarity is to */
  seed: number;
}

/** Positions outside the unit that conceptual suppression would drag along, in sequence order (for the UI, before running). */
export function draggedAlong(unit: Unit, kappa: number | null, similarity: Similarity, seqLen: number): DraggedPosition[] {
  if (kappa === null) return [];
  const inUnit = new Set(unit.positions);
  const out: DraggedPosition[] = [];
  for (let k = 0; k < seqLen; k++) {
    if (inUnit.has(k)) continue;
    let best: DraggedPosition | undefined;
    for (const p of unit.positions) {
      const cos = Math.min(1, similarity(p, k));
      if (cos >= kappa - KAPPA_TOLERANCE && cos > 0 && (!best || cos > best.similarity)) {
        best = { position: k, similarity: cos, seed: p };
      }
    }
    if (best) out.push(best);
  }
  return out;
}
