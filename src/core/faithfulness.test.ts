import { describe, expect, it } from 'vitest';
import { isAtmanError } from './errors';
import {
  checkRanking,
  combineFactors,
  curveAreas,
  curveKs,
  curveSets,
  meanCurve,
  rankByScore,
  removalFactors,
  seededPermutation,
  targetProbability,
} from './faithfulness';

describe('curve points', () => {
  it('takes every k, or evenly spaced ones with both ends', () => {
    expect(curveKs(3)).toEqual([0, 1, 2, 3]);
    expect(curveKs(3, 10)).toEqual([0, 1, 2, 3]);
    expect(curveKs(10, 4)).toEqual([0, 3, 7, 10]);
    expect(curveKs(10, 2)).toEqual([0, 10]);
    expect(curveKs(0)).toEqual([0]);
    expect(curveKs(100, 11)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('refuses fewer than two points', () => {
    expect(() => curveKs(5, 1)).toThrow(/at least 2 points/);
    let caught: unknown;
    try {
      curveKs(5, 1.5);
    } catch (e) {
      caught = e;
    }
    expect(isAtmanError(caught, 'BAD_SETTING')).toBe(true);
  });
});

describe('rankings', () => {
  it('ranks by descending score, ties in unit order, NaN last', () => {
    expect(rankByScore([0.1, 3, -2, 3, NaN, -Infinity])).toEqual([1, 3, 0, 2, 5, 4]);
    expect(rankByScore([])).toEqual([]);
  });

  it('draws the same permutation for the same seed, another for another seed', () => {
    const a = seededPermutation(12, 7);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(seededPermutation(12, 7)).toEqual(a);
    expect(seededPermutation(12, 8)).not.toEqual(a);
    expect(seededPermutation(0, 1)).toEqual([]);
  });

  it('puts each unit first about equally often over many seeds', () => {
    const n = 5;
    const runs = 5000;
    const first = new Array(n).fill(0);
    for (let s = 0; s < runs; s++) first[seededPermutation(n, s)[0]!]++;
    // 1000 expected per unit; 5 standard deviations is about +-140
    for (const c of first) expect(Math.abs(c - runs / n)).toBeLessThan(150);
  });

  it('checks that a ranking lists every unit once', () => {
    expect(() => checkRanking([2, 0, 1], 3)).not.toThrow();
    expect(() => checkRanking([0, 0, 1], 3)).toThrow(/once/);
    expect(() => checkRanking([0, 1], 3)).toThrow(/lists 2 units/);
    expect(() => checkRanking([0, 1, 3], 3)).toThrow(/out of range/);
  });
});

describe('suppressed sets and their factors', () => {
  it('deletion removes the top k, insertion everything else', () => {
    const { deletion, insertion } = curveSets([2, 0, 1], [0, 1, 3]);
    expect(deletion).toEqual([[], [2], [2, 0, 1]]);
    expect(insertion).toEqual([[2, 0, 1], [0, 1], []]);
  });

  it('combines overlapping units by the smallest factor', () => {
    const f = [Float32Array.from([0.1, 1, 0.5, 1]), Float32Array.from([1, 1, 0.2, 0.7])];
    expect(Array.from(combineFactors((u) => f[u]!, [0, 1], 4))).toEqual(Array.from(Float32Array.from([0.1, 1, 0.2, 0.7])));
    expect(Array.from(combineFactors((u) => f[u]!, [], 4))).toEqual([1, 1, 1, 1]);
    expect(() => combineFactors(() => new Float32Array(3), [0], 4)).toThrow(/3 factors/);
  });

  it('removal factors put the factor on the unit positions only', () => {
    expect(Array.from(removalFactors([1, 3], 5, 0))).toEqual([1, 0, 1, 0, 1]);
    expect(() => removalFactors([5], 5, 0)).toThrow(/outside/);
  });

  // What is guaranteed: along k the deletion factors only fall and the insertion factors only rise,
  // position by position. So for any model whose target probability is non-decreasing in every
  // column factor, deletion is non-increasing and insertion non-decreasing. A transformer is not such
  // a model (removing a distractor can raise p), so only the synthetic one below is held to it.
  it('gives monotone curves for a model monotone in the factors, whatever the ranking', () => {
    const S = 9;
    const units = [[0, 1], [2], [3, 4, 5], [5, 6], [7], [8]];
    const perUnit = units.map((ps, u) => removalFactors(ps, S, u % 2 === 0 ? 0 : 0.3));
    const weights = [0.3, 1.2, 0.1, 2, 0.5, 0.9, 0.05, 1.5, 0.7];
    // p = sigmoid(sum_i w_i * phi_i - 3), w >= 0
    const p = (phi: Float32Array) => 1 / (1 + Math.exp(-(phi.reduce((a, x, i) => a + weights[i]! * x, 0) - 3)));
    for (let seed = 1; seed <= 20; seed++) {
      const order = seededPermutation(units.length, seed);
      const ks = curveKs(units.length, seed % 2 ? undefined : 4);
      const sets = curveSets(order, ks);
      const del = sets.deletion.map((s) => p(combineFactors((u) => perUnit[u]!, s, S)));
      const ins = sets.insertion.map((s) => p(combineFactors((u) => perUnit[u]!, s, S)));
      for (let i = 1; i < ks.length; i++) {
        expect(del[i]!).toBeLessThanOrEqual(del[i - 1]!);
        expect(ins[i]!).toBeGreaterThanOrEqual(ins[i - 1]!);
        const prevDel = combineFactors((u) => perUnit[u]!, sets.deletion[i - 1]!, S);
        const nextDel = combineFactors((u) => perUnit[u]!, sets.deletion[i]!, S);
        nextDel.forEach((f, j) => expect(f).toBeLessThanOrEqual(prevDel[j]!));
      }
      const p0 = p(new Float32Array(S).fill(1));
      expect(del[0]).toBe(p0);
      expect(ins[ins.length - 1]).toBe(p0);
      expect(del[del.length - 1]).toBe(ins[0]);
    }
  });
});

describe('probabilities and areas', () => {
  it('joint and mean per-token probability of the target', () => {
    const r = targetProbability([Math.log(2), Math.log(4)]);
    expect(r.joint).toBeCloseTo(1 / 8, 12);
    expect(r.meanToken).toBeCloseTo(0.375, 12);
    expect(targetProbability([0]).joint).toBe(1);
  });

  it('areas on hand-worked curves', () => {
    const a = curveAreas(0.8, [0.8, 0.5, 0.2, 0.1], [0.1, 0.4, 0.6, 0.8]);
    expect(a.aopc).toBeCloseTo(0.4, 12); // (0 + 0.3 + 0.6 + 0.7) / 4
    expect(a.deletionAuc).toBeCloseTo(0.4, 12); // 1.6 / 4
    expect(a.insertionAuc).toBeCloseTo(0.475, 12); // 1.9 / 4
    expect(a.abpc).toBeCloseTo(0.075, 12); // (-0.7 - 0.1 + 0.4 + 0.7) / 4
    // a ranking that swaps the curves gets the negated ABPC
    expect(curveAreas(0.8, [0.1, 0.4, 0.6, 0.8], [0.8, 0.5, 0.2, 0.1]).abpc).toBeCloseTo(-0.075, 12);
    expect(() => curveAreas(1, [1], [1, 1])).toThrow();
  });

  it('averages curves point by point', () => {
    expect(meanCurve([[1, 0.5], [0, 0.25]])).toEqual([0.5, 0.375]);
    expect(() => meanCurve([[1], [1, 2]])).toThrow();
  });
});
