import { describe, expect, it } from 'vitest';
import { cosineSimilarityMatrix, draggedAlong, similarityFromMatrix, unitFactors } from './conceptual';

// Positions: 0 = x, 1 = y (orthogonal to x), 2 = x again (identical), 3 = 0.8-similar to x,
// 4 = zero vector, 5 = 0.6-similar to x and 0.96-similar to position 3.
const DIM = 3;
const E = new Float32Array([1, 0, 0, 0, 1, 0, 2, 0, 0, 0.8, 0.6, 0, 0, 0, 0, 0.6, 0.8, 0]);
const N = 6;
const M = cosineSimilarityMatrix(E, N, DIM);
const sim = similarityFromMatrix(M, N);
const close = (a: Float32Array, b: number[]) => {
  expect(a.length).toBe(b.length);
  b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));
};

describe('cosineSimilarityMatrix', () => {
  it('gives exact cosines for orthogonal, identical (any scale) and 0.8-similar vectors', () => {
    expect(sim(0, 1)).toBe(0);
    expect(sim(0, 2)).toBe(1);
    expect(sim(0, 0)).toBe(1);
    expect(sim(0, 3)).toBeCloseTo(0.8, 6);
    expect(sim(3, 5)).toBeCloseTo(0.96, 6);
    expect(sim(3, 0)).toBe(sim(0, 3));
  });

  it('gives 0 rather than NaN for a zero vector', () => {
    for (let k = 0; k < N; k++) expect(sim(4, k)).toBe(0);
  });
});

describe('unitFactors', () => {
  it('suppresses only the seed without kappa', () => {
    close(unitFactors({ label: 'x', positions: [0] }, N, 0.1, null, sim), [0.1, 1, 1, 1, 1, 1]);
  });

  it('drags along identical and similar positions with 1 - cos*(1-f)', () => {
    close(unitFactors({ label: 'x', positions: [0] }, N, 0.1, 0.7, sim), [0.1, 1, 0.1, 1 - 0.8 * 0.9, 1, 1]);
    close(unitFactors({ label: 'x', positions: [0] }, N, 0.1, 0.9, sim), [0.1, 1, 0.1, 1, 1, 1]);
    close(unitFactors({ label: 'x', positions: [0] }, N, 0, 0.5, sim), [0, 1, 0, 0.2, 1, 0.4]);
  });

  it('counts a cosine exactly at kappa despite float32 storage', () => {
    const e = new Float32Array([1, 0, 0.7, Math.sqrt(0.51)]);
    const s = similarityFromMatrix(cosineSimilarityMatrix(e, 2, 2), 2);
    close(unitFactors({ label: 'a', positions: [0] }, 2, 0.1, 0.7, s), [0.1, 1 - 0.7 * 0.9]);
  });

  it('lets the smallest factor win when several seeds reach a position (suppression)', () => {
    // position 5: 0.6 from seed 0 -> 0.46, 0.96 from seed 3 -> 0.136; position 1 is 0.6 from seed 3 only
    const phi = unitFactors({ label: 'x y', positions: [0, 3] }, N, 0.1, 0.5, sim);
    close(phi, [0.1, 1 - 0.6 * 0.9, 0.1, 0.1, 1, 1 - 0.96 * 0.9]);
  });

  it('lets the largest factor win when amplifying', () => {
    const phi = unitFactors({ label: 'x y', positions: [0, 3] }, N, 2, 0.5, sim);
    close(phi, [2, 1.6, 2, 2, 1, 1.96]);
  });

  it('scales seeds and what they drag by coverage', () => {
    const phi = unitFactors({ label: 'x', positions: [0], coverage: [0.5] }, N, 0.1, 0.7, sim);
    close(phi, [0.55, 1, 0.55, 1 - 0.8 * 0.45, 1, 1]);
  });

  it('lets a full-strength seed override a weaker partially covered seed at an identical position', () => {
    const phi = unitFactors({ label: 'x x', positions: [0, 2], coverage: [1, 0.5] }, N, 0.1, 0.7, sim);
    expect(phi[2]).toBeCloseTo(0.1, 6);
  });

  it('leaves everything at 1 for factor 1 and rejects positions outside the sequence', () => {
    close(unitFactors({ label: 'x', positions: [0] }, N, 1, 0.5, sim), [1, 1, 1, 1, 1, 1]);
    expect(() => unitFactors({ label: 'x', positions: [6] }, N, 0.1, null, sim)).toThrow(RangeError);
  });
});

describe('draggedAlong', () => {
  it('lists the positions a unit drags along with their best seed', () => {
    const d = draggedAlong({ label: 'x', positions: [0] }, 0.7, sim, N);
    expect(d.map((x) => [x.position, x.seed])).toEqual([[2, 0], [3, 0]]);
    expect(d[0]!.similarity).toBe(1);
    expect(d[1]!.similarity).toBeCloseTo(0.8, 6);
    const two = draggedAlong({ label: 'x y', positions: [0, 3] }, 0.5, sim, N);
    expect(two.map((x) => [x.position, x.seed])).toEqual([[1, 3], [2, 0], [5, 3]]);
  });

  it('is empty when conceptual suppression is off', () => {
    expect(draggedAlong({ label: 'x', positions: [0] }, null, sim, N)).toEqual([]);
  });
});
