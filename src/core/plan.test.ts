import { describe, expect, it } from 'vitest';
import { factorsForBatch, groupByStart, passCount } from './plan';

describe('passCount', () => {
  it('is the unperturbed pass plus one per unit', () => {
    expect(passCount(4)).toBe(5);
    expect(passCount(0)).toBe(1);
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

describe('groupByStart', () => {
  it('keeps everything in one batch when batches are expensive', () => {
    expect(groupByStart([0, 1, 2, 3], 10, 8, 1000)).toEqual([[0, 4]]);
  });
  it('splits late starters from early ones when a run is cheap', () => {
    // one batch: 5 + 4*10 = 45 rows; split {0} + {8,8,9}: 5+10 + 5+3*2 = 26
    expect(groupByStart([0, 8, 8, 9], 10, 8, 5)).toEqual([[0, 1], [1, 4]]);
  });
  it('never exceeds the batch size and covers every unit once', () => {
    const starts = Array.from({ length: 37 }, (_, i) => Math.floor(i / 2));
    const groups = groupByStart(starts, 40, 4, 10);
    expect(groups.every(([a, b]) => b - a >= 1 && b - a <= 4)).toBe(true);
    expect(groups.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k))).toEqual(starts.map((_, i) => i));
  });
});
