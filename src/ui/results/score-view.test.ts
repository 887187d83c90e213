import { describe, expect, it } from 'vitest';
import type { Explanation } from '../../runtime/schema';
import llama from './__fixtures__/tiny-llama-per-token.json';
import {
  canAffect,
  colourScale,
  formatPercent,
  formatScore,
  luminance,
  maxAbs,
  parseColour,
  probabilities,
  ranks,
  readableText,
  sequenceProbability,
  tokenLabel,
  tokenToUnit,
  truncate,
  unitLabel,
  unitScores,
} from './score-view';
import { heatmapRuns, pieces } from './text-pieces';
import { testExplanation } from '../../testing/ui-explanation';

const LN2 = Math.log(2);
const real = llama as unknown as Explanation;

describe('unitScores', () => {
  const x = testExplanation();
  it('is the unit score over the whole target for null', () => {
    expect(unitScores(x, null)).toEqual([-0.1, 0, 3 * LN2, 0.75, -0.5]);
  });
  it('is R[u,t] for a target token, post-processed like the settings', () => {
    expect(unitScores(x, 1)).toEqual([-0.2, LN2, 2 * LN2, 0.25, -0.5]);
    const sq = testExplanation({ settings: { ...x.settings, postprocess: 'square' } });
    expect(unitScores(sq, 0).map((v) => +v.toFixed(6))).toEqual([0.01, +(LN2 * LN2).toFixed(6), +(LN2 * LN2).toFixed(6), 0.25, 0]);
    const abs = testExplanation({ settings: { ...x.settings, postprocess: 'absolute' } });
    expect(unitScores(abs, 1)).toEqual([0.2, LN2, 2 * LN2, 0.25, 0.5]);
  });
  it('rejects a target index out of range', () => {
    expect(() => unitScores(x, 2)).toThrow(RangeError);
  });
  it('agrees with the engine: the score of a real run is the sum of its row (postprocess none)', () => {
    for (const u of real.units) expect(u.perTarget.reduce((a, b) => a + b, 0)).toBeCloseTo(u.score, 10);
  });
});

describe('ranks', () => {
  it('ranks 1 = highest', () => {
    expect(ranks([-0.1, 0, 3 * LN2, 0.75, -0.5])).toEqual([4, 3, 1, 2, 5]);
  });
  it('gives ties the same rank and puts non-finite scores last', () => {
    expect(ranks([1, 3, 3, 2])).toEqual([4, 1, 1, 3]);
    expect(ranks([NaN, -5, 2])).toEqual([3, 2, 1]);
    expect(ranks([])).toEqual([]);
  });
});

describe('colourScale', () => {
  const s = colourScale(2);
  const rgb = (c: string) => parseColour(c);
  it('is white at 0, ColorBrewer orange at +max and blue at -max, clamped beyond', () => {
    expect(rgb(s(0))).toEqual([255, 255, 255]);
    expect(rgb(s(2))).toEqual([230, 97, 1]);
    expect(rgb(s(-2))).toEqual([33, 102, 172]);
    expect(rgb(s(1))).toEqual([253, 184, 99]);
    expect(rgb(s(-1))).toEqual([146, 197, 222]);
    expect(rgb(s(50))).toEqual([230, 97, 1]);
  });
  it('has the sign in the hue: orange (red > blue) for positive, blue for negative', () => {
    for (const v of [0.05, 0.5, 1.5]) {
      const [r, , b] = rgb(s(v));
      expect(r).toBeGreaterThan(b);
      const [r2, , b2] = rgb(s(-v));
      expect(b2).toBeGreaterThan(r2);
    }
  });
  it('gets darker with |score| on both sides', () => {
    expect(luminance(s(0.5))).toBeGreaterThan(luminance(s(1.5)));
    expect(luminance(s(-0.5))).toBeGreaterThan(luminance(s(-1.5)));
  });
  it('picks a readable text colour', () => {
    expect(s.text(0)).toBe('#111111');
    expect(s.text(1)).toBe('#111111');
    expect(s.text(-2)).toBe('#ffffff');
    expect(readableText('#000000')).toBe('#ffffff');
    // WCAG contrast of the chosen text colour is at least 4.5 everywhere on the scale
    for (let v = -2; v <= 2; v += 0.1) {
      const bg = luminance(s(v));
      const fg = luminance(s.text(v));
      const ratio = (Math.max(bg, fg) + 0.05) / (Math.min(bg, fg) + 0.05);
      expect(ratio).toBeGreaterThanOrEqual(4.5);
    }
  });
  it('paints everything white for maxAbs 0 and grey for NaN', () => {
    const z = colourScale(0);
    expect(rgb(z(3))).toEqual([255, 255, 255]);
    expect(z(NaN)).toBe('#d9d9d9');
  });
});

describe('tokens, units and probabilities', () => {
  const x = testExplanation();
  it('maps token positions to units', () => {
    expect(tokenToUnit(x)).toEqual([0, 1, 2, 3, 4, null]);
    const m = tokenToUnit(real);
    expect([8, 9, 10, 11].map((p) => m[p])).toEqual([8, 8, 8, 8]); // the word unit "Its"
    expect(m[real.tokens.length - 1]).toBeNull(); // the last target token explains, is never a unit
  });
  it('gives P(target) before and after suppressing a unit', () => {
    const p = probabilities(x, 2);
    expect(p.map((r) => r.before)).toEqual([0.5, 0.25].map((v) => expect.closeTo(v, 12)));
    expect(p[0]!.after).toBeCloseTo(0.25, 12);
    expect(p[1]!.after).toBeCloseTo(0.0625, 12);
    expect(p[1]!.ceAfter).toBeCloseTo(4 * LN2, 12);
    const q = probabilities(x, 1); // "The": -ln2 then +ln2
    expect(q[0]!.after).toBeCloseTo(1, 12);
    expect(q[1]!.after).toBeCloseTo(0.125, 12);
    const seq = sequenceProbability(x, 2);
    expect(seq.before).toBeCloseTo(0.125, 12);
    expect(seq.after).toBeCloseTo(0.015625, 12);
  });
  it('knows which units can affect which target token', () => {
    expect(canAffect(x, 4, 0)).toBe(false);
    expect(canAffect(x, 4, 1)).toBe(true);
    expect(canAffect(x, 0, 0)).toBe(true);
    // the real run: target-token units have R = 0 for the tokens before them
    real.units.forEach((u, i) =>
      u.perTarget.forEach((r, t) => {
        if (!canAffect(real, i, t)) expect(r).toBe(0);
      }),
    );
  });
  it('formats scores and probabilities', () => {
    expect(formatScore(3 * LN2)).toBe('+2.079');
    expect(formatScore(-0.00020548336)).toBe('-0.0002055');
    expect(formatScore(1.2345, 3)).toBe('+1.23');
    expect(formatScore(0)).toBe('0');
    expect(formatPercent(0.0625)).toBe('6.25%');
    expect(formatPercent(0.5)).toBe('50.0%');
    expect(formatPercent(Math.exp(-9.596579334625865))).toBe('0.00680%');
    expect(maxAbs([-3, 2, NaN])).toBe(3);
    expect(truncate('onerror-handler', 6)).toBe('onerr…');
    expect(truncate('short', 6)).toBe('short');
  });
  it('labels tokens with visible whitespace', () => {
    expect(tokenLabel({ id: 259, text: '', start: 0, end: 0, role: 'target' })).toBe('[259]');
    expect(tokenLabel({ id: 259, text: ' ', start: 4, end: 5, role: 'target' })).toBe('␣');
    expect(tokenLabel({ id: 337, text: ' the', start: 0, end: 4, role: 'target' })).toBe(' the');
    expect(unitLabel(' ')).toBe('␣');
    expect(unitLabel('')).toBe('∅');
    expect(unitLabel('Paris')).toBe('Paris');
  });
});

describe('text pieces', () => {
  it('keeps every character of prompt and target, in order', () => {
    for (const x of [testExplanation(), real]) {
      for (const role of ['prompt', 'target'] as const) {
        const text = pieces(x, role)
          .filter((p) => p.kind === 'gap' || !p.chip)
          .map((p) => p.text)
          .join('');
        expect(text).toBe(role === 'prompt' ? x.prompt : x.target);
      }
    }
  });
  it('draws special and empty tokens as chips', () => {
    const chips = pieces(real, 'prompt').filter((p) => p.kind === 'token' && p.chip);
    expect(chips).toEqual([{ kind: 'token', pos: 0, text: '<s>', chip: true }]);
    expect(pieces(real, 'target')[0]).toEqual({ kind: 'token', pos: 14, text: '[259]', chip: true });
  });
  it('groups the tokens of one unit into one run, with the gaps inside it', () => {
    const runs = heatmapRuns(real).prompt.filter((r) => r.kind === 'unit');
    expect(runs.length).toBe(real.units.filter((u) => u.positions[0]! < 14).length);
    const its = runs.find((r) => r.kind === 'unit' && r.unit === 8)!;
    expect(its.kind === 'unit' && its.pieces.map((p) => p.text).join('')).toBe(' Its');
  });
});
