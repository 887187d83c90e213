import { describe, expect, it } from 'vitest';
import { cheferRow, gaussLegendre01 } from './gradient-attribution';

describe('gaussLegendre01', () => {
  it('integrates polynomials up to degree 2n - 1 exactly on [0, 1]', () => {
    for (const n of [1, 2, 5, 50]) {
      const { nodes, weights } = gaussLegendre01(n);
      for (let deg = 0; deg <= 2 * n - 1 && deg < 40; deg++) {
        const q = nodes.reduce((a, x, i) => a + weights[i]! * x ** deg, 0);
        expect(q).toBeCloseTo(1 / (deg + 1), 12);
      }
      expect([...nodes].every((x, i) => x > 0 && x < 1 && (i === 0 || x > nodes[i - 1]!))).toBe(true);
    }
  });
});

describe('cheferRow', () => {
  it('follows R <- R + Abar R with Abar the head mean of the positive part of G ⊙ A', () => {
    const S = 2;
    // one layer, two heads
    const A = [Float64Array.of(1, 0, 0.5, 0.5, 1, 0, 0.25, 0.75)];
    const G = [Float64Array.of(1, 1, 2, -1, 3, 0, 4, 1)];
    // head 0: G⊙A = [1 0; 1 -0.5] -> [1 0; 1 0]; head 1: [3 0; 1 0.75]; mean: [2 0; 1 0.375]
    // R = I + Abar; row 1 of R - I = [1, 0.375]
    expect(Array.from(cheferRow(A, G, 2, S, 1))).toEqual([1, 0.375]);
    // two layers: R = (I + B)(I + B) with B = Abar
    const r = cheferRow([A[0]!, A[0]!], [G[0]!, G[0]!], 2, S, 1);
    // (I+B)^2 = I + 2B + B^2; B^2 row 1 = [1*2 + 0.375*1, 0.375^2]
    expect(r[0]).toBeCloseTo(2 * 1 + 2.375, 12);
    expect(r[1]).toBeCloseTo(2 * 0.375 + 0.375 ** 2, 12);
  });
});
