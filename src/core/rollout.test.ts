import { describe, expect, it } from 'vitest';
import { attentionRollout, columnMass, headMean, withResidual } from './rollout';

const close = (got: ArrayLike<number>, want: number[], digits = 12) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, digits));
};

describe('attention rollout', () => {
  // Two layers over three tokens, worked by hand:
  //   A1 = [1 0 0; .5 .5 0; .2 .3 .5]  ->  Â1 = rownorm(A1 + I) = [1 0 0; .25 .75 0; .1 .15 .75]
  //   A2 = [1 0 0; .8 .2 0; .1 .1 .8]  ->  Â2 = [1 0 0; .4 .6 0; .05 .05 .9]
  //   R = Â2 · Â1:
  //     row 1 = .4*[1 0 0] + .6*[.25 .75 0]                          = [.55 .45 0]
  //     row 2 = .05*[1 0 0] + .05*[.25 .75 0] + .9*[.1 .15 .75]        = [.1525 .1725 .675]
  const A1 = [1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5];
  const A2 = [1, 0, 0, 0.8, 0.2, 0, 0.1, 0.1, 0.8];

  it('adds the identity and normalises rows', () => {
    close(withResidual(A1, 3), [1, 0, 0, 0.25, 0.75, 0, 0.1, 0.15, 0.75]);
    // rows that do not sum to 1 are normalised by their own sum, not halved
    close(withResidual([0.2, 0.2, 0, 0.5], 2), [1.2 / 1.4, 0.2 / 1.4, 0, 1]);
  });

  it('multiplies from the last layer down (hand-worked 2-layer example)', () => {
    const R = attentionRollout([A1, A2], 3);
    close(R, [1, 0, 0, 0.55, 0.45, 0, 0.1525, 0.1725, 0.675]);
    // the other order gives a different matrix, so the order is tested
    const wrong = attentionRollout([A2, A1], 3);
    expect(Math.abs(wrong[3 * 2]! - 0.1525)).toBeGreaterThan(1e-3);
  });

  it('one layer is just rownorm(A + I)', () => {
    close(attentionRollout([A1], 3), Array.from(withResidual(A1, 3)));
  });

  it('sums unit columns of a query row', () => {
    const R = attentionRollout([A1, A2], 3);
    expect(columnMass(R, 3, 2, [0, 1])).toBeCloseTo(0.325, 12);
    expect(columnMass(R, 3, 1, [2])).toBe(0);
    expect(() => columnMass(R, 3, 3, [0])).toThrow(RangeError);
  });

  it('averages chosen heads', () => {
    // two heads of a 2x2 attention
    const probs = [1, 0, 0.5, 0.5, 1, 0, 0.1, 0.9];
    close(headMean(probs, 2, 2), [1, 0, 0.3, 0.7]);
    close(headMean(probs, 2, 2, [1]), [1, 0, 0.1, 0.9]);
    expect(() => headMean(probs, 2, 2, [2])).toThrow(RangeError);
  });
});
