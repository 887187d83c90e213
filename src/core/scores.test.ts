import { describe, expect, it } from 'vitest';
import { aggregate, crossEntropyAtTargets, minMaxNormalise, relevanceMatrix, toReferenceSign } from './scores';

const LN2 = Math.log(2);

describe('crossEntropyAtTargets', () => {
  // batch 2, seqLen 3, vocab 3, prompt 2 tokens, targets [2, 0]: rows 1 and 2 predict them, row 0 is never read.
  const row = (a: number, b: number, c: number) => [a, b, c];
  const logits = new Float32Array([
    ...row(NaN, NaN, NaN), ...row(0, 0, LN2), ...row(0, 0, LN2), // softmax [1/4, 1/4, 1/2]
    ...row(NaN, NaN, NaN), ...row(1000, 1000, 1000 + LN2), ...row(5, 5, 5), // huge logits; uniform
  ]);

  it('computes -log softmax at the target ids from the right rows', () => {
    const [a, b] = crossEntropyAtTargets(logits, 2, 3, 3, 2, [2, 0]);
    expect(a![0]).toBeCloseTo(LN2, 6);
    expect(a![1]).toBeCloseTo(Math.log(4), 6);
    expect(b![0]).toBeCloseTo(LN2, 4); // stable with logits near 1000 (float32 input precision)
    expect(b![1]).toBeCloseTo(Math.log(3), 6);
    expect(a).toBeInstanceOf(Float64Array);
  });

  it('rejects shapes that do not fit', () => {
    expect(() => crossEntropyAtTargets(logits, 2, 3, 3, 2, [0, 1, 2])).toThrow(RangeError);
    expect(() => crossEntropyAtTargets(logits, 1, 3, 3, 2, [0])).toThrow(RangeError);
    expect(() => crossEntropyAtTargets(logits, 2, 3, 3, 2, [3])).toThrow(RangeError);
  });
});

describe('relevance and aggregation', () => {
  const R = relevanceMatrix([1, 2], [[1.5, 2], [0.5, 3]]);

  it('uses the paper sign: CE_u - CE_0', () => {
    expect(R.map((r) => Array.from(r))).toEqual([[0.5, 0], [-0.5, 1]]);
    expect(toReferenceSign(R).map((r) => Array.from(r))).toEqual([[-0.5, -0], [0.5, -1]]);
    expect(() => relevanceMatrix([1, 2], [[1]])).toThrow(RangeError);
  });

  it('sums over target tokens after post-processing', () => {
    expect(aggregate(R, 'none')).toEqual([0.5, 0.5]);
    expect(aggregate(R, 'absolute')).toEqual([0.5, 1.5]);
    expect(aggregate(R, 'square')).toEqual([0.25, 1.25]);
  });

  it('picks one target token column', () => {
    expect(aggregate(R, 'none', 1)).toEqual([0, 1]);
    expect(aggregate(R, 'square', 0)).toEqual([0.25, 0.25]);
    expect(() => aggregate(R, 'none', 2)).toThrow(RangeError);
  });
});

describe('minMaxNormalise', () => {
  it('maps to [0, 1] for display', () => {
    expect(minMaxNormalise([2, -2, 0])).toEqual([1, 0, 0.5]);
    expect(minMaxNormalise([3, 3])).toEqual([0, 0]);
    expect(minMaxNormalise([1, NaN, 3])).toEqual([0, NaN, 1]);
    expect(minMaxNormalise([])).toEqual([]);
  });
});
