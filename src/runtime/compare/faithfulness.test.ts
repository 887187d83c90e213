import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curveAreas } from '../../core/faithfulness';
import { DOCUMENT_QA_SETTINGS, documentQaPrompt, documentQaSettings } from '../../core/presets';
import { loadGpt2Fixture, referenceLogits } from '../../testing/reference-gpt2';
import { AtmanModel } from '../atman/atman-model';
import { explain } from '../atman/explain';
import { type Explanation } from '../schema';
import { measureFaithfulness } from './faithfulness';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { expectCode } from '../../testing/expect-code';

const DEMO = 'public/models/atman-demo-facts';
const backend = createNodeBackend({ threads: 1 });
const examples = JSON.parse(readFileSync(join(DEMO, 'examples.json'), 'utf8')) as Array<{ prompt: string; target: string; evidence: string }>;


/** Splits a demo example into its document (the fact sentences) and its question. */
function splitExample(prompt: string): { document: string; question: string } {
  const cut = prompt.lastIndexOf('. ') + 1;
  return { document: prompt.slice(0, cut), question: prompt.slice(cut + 1) };
}

describe('the document QA preset on the demo model', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(DEMO), backend);
  });
  afterAll(() => model.release());

  it('puts the evidence sentence on top of a bundled example', async () => {
    const ex = examples[0]!;
    const x = await explain(model, { prompt: ex.prompt, target: ex.target, settings: { ...DOCUMENT_QA_SETTINGS } });
    expect(x.settings).toMatchObject({ factor: 0, kappa: null, granularity: { kind: 'sentence' } });
    const top = [...x.units].sort((a, b) => b.score - a.score)[0]!;
    expect(top.label).toBe(ex.evidence);
  });

  it('with the assembled prompt, ranks only document sentences and the evidence first, on every example', async () => {
    for (const ex of examples) {
      const { document, question } = splitExample(ex.prompt);
      const qa = documentQaPrompt(document, question);
      expect(qa.prompt).toBe(ex.prompt);
      const x = await explain(model, { prompt: qa.prompt, target: ex.target, settings: documentQaSettings(qa) });
      expect(x.units).toHaveLength(qa.sentences.length);
      expect(x.units.map((u) => u.label)).not.toContain(question);
      const top = [...x.units].sort((a, b) => b.score - a.score)[0]!;
      expect(top.label).toBe(ex.evidence);
    }
  });
});

describe('faithfulness curves on the demo model', () => {
  let model: AtmanModel;
  let x: Explanation;
  const ex = examples[0]!;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(DEMO), backend);
    x = await explain(model, { prompt: ex.prompt, target: ex.target, settings: { ...DOCUMENT_QA_SETTINGS } });
  });
  afterAll(() => model.release());

  it('starts deletion and ends insertion at the unperturbed probability', async () => {
    const f = await measureFaithfulness(model, x);
    const n = x.units.length;
    const p0 = Math.exp(-x.baseline.crossEntropy.reduce((a, b) => a + b, 0));
    expect(f.ks).toEqual(Array.from({ length: n + 1 }, (_, k) => k));
    expect(f.baseline.probability).toBeCloseTo(p0, 6);
    expect(f.deletion[0]).toBeCloseTo(p0, 6);
    expect(f.insertion[n]).toBeCloseTo(p0, 6);
    // k = n of deletion and k = 0 of insertion suppress the same set: everything
    expect(f.deletion[n]).toBeCloseTo(f.insertion[0]!, 6);
    expect(f.removalFactor).toBe(0);
    expect(f.passes).toBe(1 + 2 * (n + 1) * (1 + 3));
    // AtMan's ranking removes the answer at once and restores it with the evidence alone
    expect(x.units[f.ranking[0]!]!.label).toBe(ex.evidence);
    expect(f.deletion[1]).toBeLessThan(p0 / 10);
    expect(f.insertion[1]).toBeGreaterThan(f.insertion[0]!);
    expect(f.abpc).toBeGreaterThan(f.randomAbpc! + 0.1);
    expect(f.random!.seeds).toEqual([1, 2, 3]);
    const a = curveAreas(p0, f.deletion, f.insertion);
    expect(f.aopc).toBeCloseTo(a.aopc, 6);
    expect(f.abpc).toBeCloseTo(f.insertionAuc - f.deletionAuc, 12);
    expect(f.meanTokenProbability.deletion).toHaveLength(n + 1);
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });

  it('gives the same curves without prefix reuse or score head, in batches of 1', async () => {
    const a = await measureFaithfulness(model, x, { randomRuns: 1 });
    const b = await measureFaithfulness(model, x, { randomRuns: 1, prefixReuse: false, scoreHead: false, batchSize: 1 });
    a.deletion.forEach((p, k) => expect(b.deletion[k]).toBeCloseTo(p, 5));
    a.insertion.forEach((p, k) => expect(b.insertion[k]).toBeCloseTo(p, 5));
    a.random!.deletion.forEach((p, k) => expect(b.random!.deletion[k]).toBeCloseTo(p, 5));
  });

  it("with the explanation's own factors, removing the top unit gives that unit's pass", async () => {
    const x01 = await explain(model, { prompt: ex.prompt, target: ex.target, settings: { granularity: { kind: 'sentence' }, factor: 0.1, kappa: 0.7 } });
    const f = await measureFaithfulness(model, x01, { removalFactor: 'explanation', randomRuns: 0 });
    const top = x01.units[f.ranking[0]!]!;
    const ce0 = x01.baseline.crossEntropy.reduce((a, b) => a + b, 0);
    // postprocess none, complete target: score = sum_t (CE_u - CE_0)
    expect(Math.log(f.deletion[1]!)).toBeCloseTo(-(ce0 + top.score), 4);
    expect(f.random).toBeNull();
    expect(f.randomAbpc).toBeNull();
  });

  it('spaces the points evenly when capped, and repeats the random floor for a seed', async () => {
    const tok = await explain(model, { prompt: ex.prompt, target: ex.target, settings: { kappa: null } });
    const n = tok.units.length;
    const f = await measureFaithfulness(model, tok, { maxPoints: 5, randomRuns: 2, seed: 7 });
    expect(f.ks[0]).toBe(0);
    expect(f.ks.at(-1)).toBe(n);
    expect(f.ks).toHaveLength(5);
    expect(f.deletion).toHaveLength(5);
    expect(f.random!.seeds).toEqual([7, 8]);
    const g = await measureFaithfulness(model, tok, { maxPoints: 5, randomRuns: 2, seed: 7 });
    expect(g.random!.deletion).toEqual(f.random!.deletion);
    const h = await measureFaithfulness(model, tok, { maxPoints: 5, randomRuns: 2, seed: 9 });
    expect(h.random!.deletion).not.toEqual(f.random!.deletion);
  });

  it('takes an explicit ranking, and refuses bad input with typed errors', async () => {
    const reversed = [...x.units.keys()].reverse();
    const f = await measureFaithfulness(model, x, { ranking: reversed, randomRuns: 0 });
    expect(f.ranking).toEqual(reversed);
    await expectCode(measureFaithfulness(model, x, { removalFactor: 1 }), 'BAD_SETTING', /removal factor/);
    await expectCode(measureFaithfulness(model, x, { ranking: [0, 0, 1, 2] }), 'BAD_SETTING', /once/);
    await expectCode(measureFaithfulness(model, { ...x, units: [] }), 'BAD_SETTING', /no units/);
    await expectCode(measureFaithfulness(model, { ...x, units: [{ positions: [999], score: 1 }] }), 'BAD_SETTING', /outside/);
    await expectCode(measureFaithfulness(model, { ...x, target: ' Rome' }), 'BAD_SETTING', /tokenisation/);
  });
});

describe('faithfulness points against the float64 reference (tiny-gpt2)', () => {
  const weights = loadGpt2Fixture(resolve(__dirname, '../../../fixtures/models/tiny-gpt2'));
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), backend);
  });
  afterAll(() => model.release());

  for (const mode of ['multiplicative', 'log-additive'] as const) {
    it(`${mode}: each point is the joint probability with the combined factors`, async () => {
      const prompt = 'The cat sat on the mat.';
      const target = ' The dog';
      const promptIds = model.tokenizer.encodePrompt(prompt).map((t) => t.id);
      const targetIds = model.tokenizer.encodeTarget(target).map((t) => t.id);
      const ids = [...promptIds, ...targetIds.slice(0, -1)];
      const S = ids.length;
      // another method's ranking: overlapping units, one reaching into the target prefix
      const units = [
        { label: 'cat sat', positions: [1, 2], score: 3 },
        { label: 'sat on', positions: [2, 3], score: 2 },
        { label: 'mat. The', positions: [5, 6, S - 1], score: 1 },
      ];
      const f = await measureFaithfulness(model, { prompt, target, units, settings: { mode } }, { removalFactor: 0.2, randomRuns: 0 });
      expect(f.mode).toBe(mode);
      const p = (suppressed: number[]) => {
        const phi = new Float32Array(S).fill(1);
        for (const u of suppressed) for (const q of units[u]!.positions) phi[q] = 0.2;
        const logits = referenceLogits(weights, ids, phi, mode);
        const V = weights.vocab;
        let ce = 0;
        targetIds.forEach((t, i) => {
          const row = logits.subarray((promptIds.length - 1 + i) * V, (promptIds.length + i) * V);
          const max = Math.max(...row);
          ce += max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) - row[t]!;
        });
        return Math.exp(-ce);
      };
      expect(f.ranking).toEqual([0, 1, 2]);
      const want = { deletion: [[], [0], [0, 1], [0, 1, 2]], insertion: [[0, 1, 2], [1, 2], [2], []] };
      want.deletion.forEach((s, k) => expect(f.deletion[k]! / p(s)).toBeCloseTo(1, 4));
      want.insertion.forEach((s, k) => expect(f.insertion[k]! / p(s)).toBeCloseTo(1, 4));
      // the points differ, so matching them means something
      expect(Math.abs(f.deletion[1]! / f.deletion[0]! - 1)).toBeGreaterThan(1e-2);
      expect(Math.abs(f.insertion[0]! / f.deletion[0]! - 1)).toBeGreaterThan(1e-2);
    });
  }
});
