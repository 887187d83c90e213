import { describe, expect, it } from 'vitest';
import { checkDrillDown, drillLevels, drillStep, parentsOf, sameUnit, strongest, toRefine } from './drill-down';
import { validateSettings } from './settings';
import { buildUnits } from './units';
import type { TokenInfo, Unit } from './types';
import { expectCode } from '../testing/expect-code';

const u = (positions: number[], label = ''): Unit => ({ label, positions });

/** Whitespace-led tokens, as a byte-level BPE writes them: "Hi.", " Yo", " there." */
function tokensOf(text: string, pieces: string[]): TokenInfo[] {
  let at = 0;
  return pieces.map((p, id) => {
    const start = text.indexOf(p, at);
    at = start + p.length;
    return { id, text: p, start, end: at, role: 'prompt', special: false };
  });
}

describe('drill-down hierarchy', () => {
  it('walks from the starting level down to tokens, and refuses levels with nothing below', async () => {
    expect(drillLevels({ kind: 'sentence' })).toEqual(['sentence', 'word', 'token']);
    expect(drillLevels({ kind: 'paragraph' })).toEqual(['paragraph', 'sentence', 'word', 'token']);
    expect(drillLevels({ kind: 'word' })).toEqual(['word', 'token']);
    for (const g of [{ kind: 'token' }, { kind: 'delimiter', delimiter: ';' }] as const) await expectCode(() => drillLevels(g), 'BAD_SETTING');
  });

  it('puts a finer unit in the coarser unit holding most of it, the later one on a tie', () => {
    const coarse = [u([0, 1, 2]), u([3, 4])];
    expect(parentsOf(coarse, [u([0]), u([1, 2]), u([2, 3]), u([2, 3, 4]), u([9])])).toEqual([0, 0, 1, 1, -1]);
  });

  it('a sentence keeps the space after its full stop while the next word takes it: the word still has one parent', () => {
    const text = 'Hi there. Yo man.';
    // " " as its own token floats to the next word at word level but stays in the first sentence.
    const tokens = tokensOf(text, ['Hi', ' there', '.', ' ', 'Yo', ' man', '.']);
    const opts = { tokenOverlap: 'complete' as const, targetTokenUnits: false };
    const sentences = buildUnits(tokens, text, { kind: 'sentence' }, opts);
    const words = buildUnits(tokens, text, { kind: 'word' }, opts);
    expect(sentences.map((s) => s.positions)).toEqual([[0, 1, 2, 3], [4, 5, 6]]);
    const yo = words.findIndex((w) => w.label === 'Yo');
    expect(words[yo]!.positions).toEqual([3, 4]);
    expect(parentsOf(sentences, words)[yo]).toBe(1);
    const step = drillStep(sentences, [1], words);
    expect([...step.children.keys()].map((w) => words[w]!.label)).toEqual(['Yo', 'man', '.']);
  });

  it('picks the strongest by score, earlier unit first on ties, never a NaN', () => {
    expect(strongest([0.1, 0.5, NaN, 0.5, -2, 0.3], 3)).toEqual([1, 3, 5]);
    expect(strongest([1, 2], 5)).toEqual([1, 0]);
  });

  it('a child with its parent\'s positions and shares needs no pass of its own', () => {
    const coarse = [u([0]), u([1, 2, 3])];
    const fine = [u([0]), u([1]), u([2, 3])];
    const step = drillStep(coarse, [0, 1], fine);
    expect([...step.children]).toEqual([[0, 0], [1, 1], [2, 1]]);
    expect(step.run).toEqual([1, 2]);
    expect(sameUnit({ label: '', positions: [1, 2], coverage: [1, 0.5] }, u([1, 2]))).toBe(false);
    expect(drillStep(coarse, [0], fine).run).toEqual([]);
  });

  it('settings: drill-down is off unless asked, and takes 1..64 units per level from a drillable granularity', async () => {
    expect('drillDown' in validateSettings({})).toBe(false);
    expect(validateSettings({ granularity: { kind: 'sentence' }, drillDown: { top: 3 } }).drillDown).toEqual({ top: 3 });
    await expectCode(() => validateSettings({ drillDown: { top: 3 } }), 'BAD_SETTING');
    for (const top of [0, 65, 2.5, '3', null]) {
      await expectCode(() => validateSettings({ granularity: { kind: 'sentence' }, drillDown: { top } as never }), 'BAD_SETTING');
    }
    await expectCode(() => validateSettings({ granularity: { kind: 'sentence' }, drillDown: { top: 3, extra: 1 } as never }), 'BAD_SETTING');
  });
});

describe('toRefine', () => {
  it('keeps the strongest, and up to top - 1 more reaching share of its score', () => {
    expect(toRefine([1, 5, 2.5, 1.9], 2, 0.4)).toEqual([1, 2]);
    expect(toRefine([1, 5, 1.9, 0], 2, 0.4)).toEqual([1]);
    expect(toRefine([1, 5, 1.9, 0], 2, 0)).toEqual([1, 2]);
    expect(toRefine([4, 5, 4.5, 4.9], 3, 0.4)).toEqual([1, 3, 2]);
    // No positive score: nothing is evidence, so only the strongest (unless share is 0).
    expect(toRefine([-1, -0.5, -2], 2, 0.4)).toEqual([1]);
    expect(toRefine([-1, -0.5, -2], 2, 0)).toEqual([1, 0]);
    expect(toRefine([3, 2], 2)).toEqual([0, 1]);
    expect(toRefine([], 2)).toEqual([]);
  });

  it('checkDrillDown takes a share from 0 to 1', () => {
    expect(checkDrillDown({ top: 2, share: 0.4 })).toEqual({ top: 2, share: 0.4 });
    expect(checkDrillDown({ top: 2 })).toEqual({ top: 2 });
    for (const share of [-0.1, 1.5, Number.NaN, '0.4']) expect(() => checkDrillDown({ top: 2, share })).toThrow(/share/);
  });
});
