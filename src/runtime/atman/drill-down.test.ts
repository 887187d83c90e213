import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DRILL_SHARE } from '../../core/drill-down';
import type { ExplainSettings } from '../../core/types';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { expectCode } from '../../testing/expect-code';
import type { ExplainedUnit, Explanation } from '../schema';

const backend = createNodeBackend({ threads: 1 });
// Words of several tokens in this fixture's small vocabulary, so every level has work of its own.
const PROMPT = 'The cat sat on the mat. The dog ran to the cat. A bird sang in the garden tree. The cat slept.';
const TARGET = ' The cat';

/** Every explained unit at each depth: depth 0 = the first level. */
function byDepth(units: ExplainedUnit[], depth = 0, out: ExplainedUnit[][] = []): ExplainedUnit[][] {
  for (const u of units) {
    (out[depth] ??= []).push(u);
    if (u.children) byDepth(u.children, depth + 1, out);
  }
  return out;
}

const key = (positions: number[]) => positions.join(',');

function expectSameAsFullRun(level: ExplainedUnit[], full: Explanation): void {
  const fullByPositions = new Map(full.units.map((u) => [key(u.positions), u]));
  for (const u of level) {
    const f = fullByPositions.get(key(u.positions));
    expect(f, `unit ${JSON.stringify(u.label)} is a unit of the full run`).toBeDefined();
    expect(Math.abs(u.score - f!.score)).toBeLessThanOrEqual(1e-6);
    u.perTarget.forEach((r, t) => expect(Math.abs(r - f!.perTarget[t]!)).toBeLessThanOrEqual(1e-6));
    expect(u.factors).toEqual(f!.factors);
  }
}

describe('drill-down on a model with a key/value cache', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2-kv'), backend, {});
  });
  afterAll(async () => {
    await model.release();
  });

  const cases: Array<[string, Partial<ExplainSettings>]> = [
    ['default settings (conceptual suppression on)', {}],
    ['document QA settings, target tokens as units', { factor: 0, kappa: null, targetGranularity: 'token', postprocess: 'square' }],
  ];
  for (const [name, base] of cases) {
    for (const share of [undefined, 0, 0.9]) {
      it(`scores every level exactly as a full run at that level: ${name}, share ${share ?? 'default'}`, async () => {
        const top = 2;
        const drillDown = { top, ...(share !== undefined ? { share } : {}) };
        const drill = await explain(model, { prompt: PROMPT, target: TARGET, settings: { ...base, granularity: { kind: 'sentence' }, drillDown } });
        const full = await Promise.all(
          (['sentence', 'word', 'token'] as const).map((kind) => explain(model, { prompt: PROMPT, target: TARGET, settings: { ...base, granularity: { kind } } })),
        );
        const depths = byDepth(drill.units);
        expect(depths).toHaveLength(3);
        expect(drill.units).toHaveLength(full[0]!.units.length);
        depths.forEach((level, d) => expectSameAsFullRun(level, full[d]!));

        // At most `top` units of a level are refined: the strongest, and the next ones only where they
        // reach `share` of its score (share 0: always the top ones).
        const s = share ?? DEFAULT_DRILL_SHARE;
        for (let d = 0; d < 2; d++) {
          const refined = depths[d]!.filter((u) => u.children);
          const ranked = [...depths[d]!].sort((a, b) => b.score - a.score).slice(0, top);
          const max = ranked[0]!.score;
          const expected = ranked.filter((u, r) => r === 0 || s === 0 || (max > 0 && u.score >= s * max));
          expect(refined.length).toBe(expected.length);
          expect(new Set(refined)).toEqual(new Set(expected));
        }
        expect(drill.drillDown).toMatchObject({ top, share: s, levels: ['sentence', 'word', 'token'], fullPasses: full[2]!.passes });
        expect(drill.passes).toBe(drill.drillDown!.passesPerLevel.reduce((a, b) => a + b, 0));
        expect(drill.passes).toBeLessThan(full[2]!.passes);
        expect(drill.drillDown!.passesPerLevel[0]).toBe(full[0]!.passes);
        // Later levels take the first level's unperturbed pass: one pass per unit that differs from its parent.
        for (let d = 1; d < 3; d++) {
          const own = depths[d - 1]!.flatMap((p) => (p.children ?? []).filter((c) => key(c.positions) !== key(p.positions)));
          expect(drill.drillDown!.passesPerLevel[d]).toBe(own.length);
        }
        expect(drill.baseline.crossEntropy).toEqual(full[0]!.baseline.crossEntropy);
        expect(drill.settings.drillDown).toEqual(drillDown);
      });
    }
  }

  it('refuses a granularity with no finer level, and reports the pass counts', async () => {
    await expectCode(explain(model, { prompt: PROMPT, target: TARGET, settings: { drillDown: { top: 3 } } }), 'BAD_SETTING');
    await expectCode(explain(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'sentence' }, drillDown: { top: 0 } } }), 'BAD_SETTING');
  });

  it('granularity auto takes the finest level that fits the budget and says why', async () => {
    const roomy = await explain(model, { prompt: PROMPT, target: TARGET, autoUnits: { budgetSeconds: 3600 } });
    expect(roomy.unitChoice?.level).toBe('token');
    expect(roomy.settings.granularity).toEqual({ kind: 'token' });
    expect(roomy.run.notes[0]).toMatch(/^automatic units: token units: \d+ passes/);
    const tight = await explain(model, { prompt: PROMPT, target: TARGET, autoUnits: { budgetSeconds: 1e-9 } });
    const counts = Object.fromEntries(tight.unitChoice!.estimates.map((e) => [e.level, e.units]));
    expect(counts.token).toBeGreaterThan(counts.word!);
    expect(counts.word).toBeGreaterThan(counts.sentence!);
    expect(tight.unitChoice!.estimates.every((e) => !e.fits)).toBe(true);
    expect(['sentence', 'paragraph']).toContain(tight.unitChoice!.level);
    expect(tight.units).toHaveLength(counts[tight.unitChoice!.level]!);
    expect(tight.unitChoice!.reason).toMatch(/no level fits/);
    expect(tight.unitChoice!.passSeconds).toBeGreaterThan(0);
    await expectCode(
      explain(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'sentence' }, drillDown: { top: 2 } }, autoUnits: { budgetSeconds: 10 } }),
      'BAD_SETTING',
    );
  });
});

describe('drill-down on a model without a key/value cache', () => {
  it('later levels take the first level unperturbed pass and still score as full runs', async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), backend, {});
    try {
      const drill = await explain(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'sentence' }, drillDown: { top: 2, share: 0 } } });
      const full = await Promise.all(
        (['sentence', 'word', 'token'] as const).map((kind) => explain(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind } } })),
      );
      const depths = byDepth(drill.units);
      depths.forEach((level, d) => expectSameAsFullRun(level, full[d]!));
      expect(drill.run.prefixReuse).toMatch(/unavailable/);
      expect(drill.drillDown!.passesPerLevel[1]).toBe(depths[1]!.length);
    } finally {
      await model.release();
    }
  });
});
