import { describe, expect, it } from 'vitest';
import { chooseBatchSize, factorsForBatch, passBatches, passCount } from './plan';

describe('passBatches', () => {
  it('covers pass 0 and every unit once, in order', () => {
    expect(passCount(4)).toBe(5);
    expect([...passBatches(4, 2)]).toEqual([[0, 1], [2, 3], [4]]);
    expect([...passBatches(0, 8)]).toEqual([[0]]);
    expect([...passBatches(3, 64)]).toEqual([[0, 1, 2, 3]]);
    expect(() => [...passBatches(3, 0)]).toThrow(RangeError);
  });
});

describe('factorsForBatch', () => {
  it('puts an all-ones row for pass 0 and unit p-1 for pass p', () => {
    const byUnit = [new Float32Array([0.1, 1, 1]), new Float32Array([1, 0.1, 0.5])];
    const out = factorsForBatch([0, 2, 1], (u) => byUnit[u]!, 3);
    expect(Array.from(out)).toEqual(Array.from(new Float32Array([1, 1, 1, 1, 0.1, 0.5, 0.1, 1, 1])));
    expect(() => factorsForBatch([1], () => new Float32Array(2), 3)).toThrow(RangeError);
  });
});

describe('chooseBatchSize', () => {
  it('fits logits plus one layer of attention scores in the budget', () => {
    // per item: 4 * 10 * (100 + 2 * 10) = 4800 bytes
    const base = { vocab: 100, seqLen: 10, numHeads: 2, hiddenSize: 64, numLayers: 4 };
    expect(chooseBatchSize({ ...base, budgetBytes: 4800 * 3 + 4799 })).toBe(3);
    expect(chooseBatchSize({ ...base, budgetBytes: 100 })).toBe(1);
    expect(chooseBatchSize({ ...base, budgetBytes: 1e12 })).toBe(64);
    expect(chooseBatchSize({ ...base, budgetBytes: 0 })).toBe(1);
  });
});
