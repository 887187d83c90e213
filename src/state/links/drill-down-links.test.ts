import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type ExplainSettings } from '../../core/types';
import { type SharedState, decodeShare, encodeShare } from './share-codec';
import { sanitizeExplanation, sanitizeSettings } from '../sanitize';
import { sampleExplanation } from '../../testing/sample-explanation';
import type { Explanation } from '../../protocol/engine-api';

const settings: ExplainSettings = { ...structuredClone(DEFAULT_SETTINGS), granularity: { kind: 'sentence' }, drillDown: { top: 2 } };

/** Sentence "The cat sat." refined into words, "cat" into its tokens (positions as in the sample). */
function drilled(): Explanation {
  const x = sampleExplanation({ settings: structuredClone(settings) });
  const [the, cat, sat] = x.units;
  const sentence = { label: 'The cat sat.', positions: [0, 1, 2], score: 2, perTarget: [1.5, 0.5], factors: [[0, 0.1], [1, 0.1], [2, 0.1]] as Array<[number, number]> };
  return {
    ...x,
    units: [{ ...sentence, children: [the!, { ...cat!, children: [{ ...cat! }] }, sat!] }],
    drillDown: { top: 2, levels: ['sentence', 'word', 'token'], passesPerLevel: [2, 4, 0], fullPasses: 4 },
    passes: 6,
  };
}

const base: SharedState = { model: { kind: 'bundled', id: 'atman-demo-facts' }, backend: 'auto', prompt: 'The cat sat.', target: ' The cat', settings, explanation: null };

describe('drill-down in share links', () => {
  it('round-trips the setting and the hierarchy of scores', async () => {
    const x = drilled();
    const hash = await encodeShare({ ...base, explanation: x });
    expect(new URLSearchParams(hash.slice(1)).get('drill')).toBe('2');
    const d = await decodeShare(hash);
    expect(d.problems).toEqual([]);
    expect(d.state.settings!.drillDown).toEqual({ top: 2 });
    expect(d.state.explanation).toEqual(x);
    // off is absent, in the link and after decoding
    const off = await encodeShare({ ...base, settings: structuredClone(DEFAULT_SETTINGS) });
    expect(new URLSearchParams(off.slice(1)).has('drill')).toBe(false);
    expect('drillDown' in (await decodeShare(off)).state.settings!).toBe(false);
  });

  it('a bad count or a granularity with nothing finer turns drill-down off with a notice, keeping the rest', async () => {
    const hash = await encodeShare(base);
    for (const bad of ['0', '65', '2.5', 'lots']) {
      const p = new URLSearchParams(hash.slice(1));
      p.set('drill', bad);
      const d = await decodeShare(`#${p}`);
      expect(d.state.settings!.drillDown).toBeUndefined();
      expect(d.state.settings!.granularity).toEqual({ kind: 'sentence' });
      expect(d.problems.join(' ')).toMatch(/drill-down/i);
    }
    const p = new URLSearchParams(hash.slice(1));
    p.set('gran', 'token');
    const d = await decodeShare(`#${p}`);
    expect(d.state.settings).toMatchObject({ granularity: { kind: 'token' } });
    expect(d.state.settings!.drillDown).toBeUndefined();
    expect(d.problems).toEqual([expect.stringMatching(/^Drill-down refines sentence, word or paragraph units; the granularity is token, so drill-down is off\.$/)]);
    const problems: string[] = [];
    expect(sanitizeSettings({ granularity: { kind: 'word' }, drillDown: { top: 3, depth: 9 } }, problems).drillDown).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/Unknown drill-down setting "depth"/)]);
  });

  it('drops results whose hierarchy cannot be: children without a drill-down, too deep, or empty, and a malformed report', () => {
    const x = drilled();
    const cases: Array<[string, unknown]> = [
      ['children without a drill-down report', { ...x, drillDown: undefined }],
      ['children deeper than the levels', { ...x, drillDown: { ...x.drillDown!, levels: ['word', 'token'], passesPerLevel: [2, 4] } }],
      ['an empty children list', { ...x, units: [{ ...x.units[0]!, children: [] }] }],
      ['a child outside the text', { ...x, units: [{ ...x.units[0]!, children: [{ ...x.units[0]!.children![0]!, positions: [99] }] }] }],
      ['levels out of order', { ...x, drillDown: { ...x.drillDown!, levels: ['token', 'word', 'sentence'] } }],
      ['passes per level that do not match the levels', { ...x, drillDown: { ...x.drillDown!, passesPerLevel: [1] } }],
    ];
    for (const [name, v] of cases) {
      const problems: string[] = [];
      expect(sanitizeExplanation(v, problems), name).toBeNull();
      expect(problems, name).toHaveLength(1);
    }
    const ok: string[] = [];
    expect(sanitizeExplanation(x, ok)).toEqual(x);
    expect(ok).toEqual([]);
  });
});
