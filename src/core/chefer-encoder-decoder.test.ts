import { describe, expect, it } from 'vitest';
import { cheferEncoderDecoderRow, normalizedResidual } from './chefer-encoder-decoder';
import { cheferRow } from './gradient-attribution';

function random(n: number, seed: number): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31 - 0.3;
  });
}

describe('cheferEncoderDecoderRow', () => {
  it('with self-attention sites only and no encoder rows, is the decoder rule', () => {
    const [S, H] = [5, 3];
    const A = [random(H * S * S, 1), random(H * S * S, 2)];
    const G = [random(H * S * S, 3), random(H * S * S, 4)];
    for (let row = 0; row < S; row++) {
      const got = cheferEncoderDecoderRow(A.map((a, l) => ({ role: 'self' as const, A: a, G: G[l]! })), S, 0, row);
      const want = cheferRow(A, G, H, S, row);
      got.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 12));
    }
  });

  it('adds R̄_ttᵀ · Ā to the encoder rows at a cross-attention site (one head, worked by hand)', () => {
    // S = 2, E = 2. Self site: Ā = [[0, 0], [0.5, 0]] -> R_tt = [[1, 0], [0.5, 1]].
    // R̂ = [[0, 0], [0.5, 0]]: row 0 sums to 0 and stays 0, row 1 scaled to [1, 0]; R̄ = [[1, 0], [1, 1]].
    // Cross site: Ā = [[0.2, 0], [0.1, 0.3]]; R̄ᵀ · Ā = [[1, 1], [0, 1]] · Ā = [[0.3, 0.3], [0.1, 0.3]].
    const self = { role: 'self' as const, A: [0, 0, 1, 0], G: [0, 0, 0.5, 0] };
    const cross = { role: 'cross' as const, A: [1, 1, 1, 1], G: [0.2, -1, 0.1, 0.3] };
    const row0 = cheferEncoderDecoderRow([self, cross], 2, 2, 0);
    [0, 0, 0.3, 0.3].forEach((v, j) => expect(row0[j]).toBeCloseTo(v, 12));
    const row1 = cheferEncoderDecoderRow([self, cross], 2, 2, 1);
    [0.5, 0, 0.1, 0.3].forEach((v, j) => expect(row1[j]).toBeCloseTo(v, 12));
  });

  it('normalises what the aggregation added, row by row, leaving rows with nothing added alone', () => {
    const R = Float64Array.from([1, 0, 0, 2, 3, 0, 0.5, 0.5, 1]);
    expect(Array.from(normalizedResidual(R, 3))).toEqual([1, 0, 0, 0.5, 1.5, 0, 0.5, 0.5, 1]);
  });
});
