import { describe, expect, it } from 'vitest';
import { chooseUnitLevel, parseDuration } from './auto-units';
import { expectCode } from '../testing/expect-code';

const counts = { token: 1000, word: 700, sentence: 40, paragraph: 4 };

describe('automatic units', () => {
  it('takes the finest level whose passes fit the budget', () => {
    // 0.1 s a pass: tokens need 100.1 s, words 70.1 s, sentences 4.1 s.
    const c = chooseUnitLevel({ unitCounts: counts, passSeconds: 0.1, budgetSeconds: 30 });
    expect(c.level).toBe('sentence');
    expect(c.estimates.map((e) => [e.level, e.passes, e.fits])).toEqual([
      ['token', 1001, false],
      ['word', 701, false],
      ['sentence', 41, true],
      ['paragraph', 5, true],
    ]);
    expect(c.estimates[0]!.seconds).toBeCloseTo(100.1, 9);
    expect(c.reason).toMatch(/^sentence units: 41 passes at ~100 ms each take ~4\.1 s, within the 30 s budget; token \(1001 passes, ~100 s\), word \(701 passes, ~70 s\) would not fit\.$/);
    expect(chooseUnitLevel({ unitCounts: counts, passSeconds: 0.1, budgetSeconds: 70.2 }).level).toBe('word');
    expect(chooseUnitLevel({ unitCounts: counts, passSeconds: 0.1, budgetSeconds: 200 })).toMatchObject({ level: 'token', reason: expect.stringMatching(/the finest level/) });
  });

  it('where nothing fits, takes the level with the fewest passes and says it runs over', () => {
    const c = chooseUnitLevel({ unitCounts: counts, passSeconds: 1, budgetSeconds: 2 });
    expect(c.level).toBe('paragraph');
    expect(c.reason).toMatch(/no level fits the 2\.0 s budget; the coarsest needs 5 passes/);
    // levels left out are not considered
    expect(chooseUnitLevel({ unitCounts: { token: 10, word: 10 }, passSeconds: 1, budgetSeconds: 1 }).level).toBe('token');
  });

  it('refuses a budget that is not a positive time', async () => {
    for (const b of [0, -1, NaN, Infinity]) await expectCode(() => chooseUnitLevel({ unitCounts: counts, passSeconds: 0.1, budgetSeconds: b }), 'BAD_SETTING');
    await expectCode(() => chooseUnitLevel({ unitCounts: {}, passSeconds: 0.1, budgetSeconds: 1 }), 'BAD_SETTING');
  });

  it('reads durations', async () => {
    expect(parseDuration('30s')).toBe(30);
    expect(parseDuration('2m')).toBe(120);
    expect(parseDuration('1m30s')).toBe(90);
    expect(parseDuration('1.5min')).toBe(90);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(parseDuration(' 45 ')).toBe(45);
    expect(parseDuration('1h')).toBe(3600);
    for (const bad of ['', 'soon', '0s', '-3s', '30 parsecs', 's']) await expectCode(() => parseDuration(bad), 'BAD_SETTING', /30s, 2m/);
  });
});
