import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenInfo } from '../../core/types';
import { loadGpt2Fixture, referenceLogits } from '../../testing/reference-gpt2';
import { AtmanModel } from './atman-model';
import { generateGreedy } from './generate';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { type SteerStepEvent, steer, steeringColumns } from './steer';
import { expectCode } from '../../testing/expect-code';

const MODELS = 'fixtures/models';
const DEMO = 'public/models/atman-demo-facts';
const backend = createNodeBackend({ threads: 1 });
const PROMPT = 'The cat sat on the mat. The dog ran to the cat.';


describe('steering with factor 1 is plain greedy generation', () => {
  for (const name of ['tiny-gpt2', 'tiny-llama']) {
    for (const mode of ['multiplicative', 'log-additive'] as const) {
      it(`${name} ${mode}`, async () => {
        const model = await AtmanModel.load(folderSource(`${MODELS}/${name}`), backend, { mode });
        try {
          const greedy = await generateGreedy(model, PROMPT, 8);
          const r = await steer(model, { prompt: PROMPT, units: [{ text: 'cat', factor: 1 }, { positions: [0], factor: 1 }], maxNewTokens: 8, mode });
          expect(r.units[0]!.positions.length).toBe(2); // both occurrences of "cat"
          expect(r.steered.text).toBe(greedy);
          expect(r.unsteered.text).toBe(greedy);
          expect(r.steered.ids).toEqual(r.unsteered.ids);
          expect(r.steered.tokens.length).toBeGreaterThan(0);
          r.steered.tokens.forEach((t, i) => {
            const u = r.unsteered.tokens[i]!;
            expect(t.id).toBe(u.id);
            expect(t.probability).toBeCloseTo(u.probability, 6);
            expect(t.other).toEqual({ id: u.id, probability: t.probability });
            expect(t.probability).toBeGreaterThan(0);
            expect(t.probability).toBeLessThanOrEqual(1);
          });
        } finally {
          await model.release();
        }
      });
    }
  }
});

describe('steering on tiny-gpt2 against the float64 reference', () => {
  const weights = loadGpt2Fixture(resolve(__dirname, '../../../fixtures/models/tiny-gpt2'));
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2`), backend);
  });
  afterAll(() => model.release());

  const softmaxLast = (logits: Float32Array, rows: number): Float64Array => {
    const V = weights.vocab;
    const row = logits.subarray((rows - 1) * V, rows * V);
    const max = Math.max(...row);
    const e = Float64Array.from(row, (x) => Math.exp(x - max));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / z);
  };

  const cases: Array<[string, 'multiplicative' | 'log-additive', Array<{ positions: number[]; factor: number }>, number[]?]> = [
    ['ignore one token', 'multiplicative', [{ positions: [1], factor: 0 }]],
    ['ignore one token', 'log-additive', [{ positions: [1], factor: 0 }]],
    ['ignore one, amplify two', 'multiplicative', [{ positions: [1], factor: 0 }, { positions: [4, 5], factor: 3 }]],
    ['amplify', 'log-additive', [{ positions: [3], factor: 4 }]],
    ['ignore one token in layer 1 only', 'multiplicative', [{ positions: [1], factor: 0 }], [1]],
  ];
  for (const [what, mode, units, layers] of cases) {
    it(`${what} (${mode}): every step matches the reference`, async () => {
      const r = await steer(model, { prompt: PROMPT, units, maxNewTokens: 4, mode, layers: layers ?? null });
      expect(r.layers).toEqual(layers ?? null);
      const prompt = model.tokenizer.encodePrompt(PROMPT).map((t) => t.id);
      const phiPrompt = new Float32Array(prompt.length).fill(1);
      for (const u of units) for (const p of u.positions) phiPrompt[p] = u.factor;
      const ids = [...prompt];
      r.steered.tokens.forEach((t, step) => {
        const phi = new Float32Array(ids.length).fill(1);
        phi.set(phiPrompt);
        const p = softmaxLast(referenceLogits(weights, ids, phi, mode, layers), ids.length);
        const best = p.indexOf(Math.max(...p));
        expect(t.id).toBe(best);
        expect(t.probability).toBeCloseTo(p[best]!, 4);
        expect(t.other!.probability).toBeCloseTo(p[t.other!.id]!, 4);
        // the unsteered run at the same step, against the unmanipulated reference
        const u = r.unsteered.tokens[step]!;
        const plainIds = [...prompt, ...r.unsteered.ids.slice(0, step)];
        const q = softmaxLast(referenceLogits(weights, plainIds, null, mode), plainIds.length);
        expect(u.probability).toBeCloseTo(q[u.id]!, 4);
        ids.push(t.id);
      });
      // the control did something at the first step
      expect(Math.abs(r.steered.tokens[0]!.probability - r.unsteered.tokens[0]!.other!.probability)).toBeGreaterThan(1e-4);
    });
  }
});

describe('steering the demo model', () => {
  let model: AtmanModel;
  const examples = JSON.parse(readFileSync(join(DEMO, 'examples.json'), 'utf8')) as Array<{ prompt: string; target: string; evidence: string }>;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(DEMO), backend);
  });
  afterAll(() => model.release());

  it('ignoring the evidence sentence takes the answer away; the run ends at the end token', async () => {
    const ex = examples[0]!;
    const steps: SteerStepEvent[] = [];
    const r = await steer(model, { prompt: ex.prompt, units: [{ text: ex.evidence, factor: 0 }], maxNewTokens: 5, onStep: (e) => steps.push(e) });
    expect(r.unsteered.text).toBe(ex.target);
    expect(r.unsteered.stop).toBe('eos');
    expect(r.unsteered.tokens.at(-1)!.eos).toBe(true);
    expect(r.steered.text).not.toBe(ex.target);
    // the steered model finds the right answer much less likely than the unsteered one does
    const first = r.steered.tokens[0]!;
    expect(first.other!.id).toBe(r.unsteered.tokens[0]!.id);
    expect(first.other!.probability).toBeLessThan(r.unsteered.tokens[0]!.probability / 10);
    expect(steps.length).toBe(Math.max(r.steered.tokens.length, r.unsteered.tokens.length));
    expect(steps[0]!.steered).toEqual(r.steered.tokens[0]);
    expect(r.units[0]).toMatchObject({ label: ex.evidence, factor: 0, spans: [[0, ex.evidence.length]] });
  });

  it('stops at the requested number of tokens and honours cancellation', async () => {
    const ex = examples[1]!;
    const r = await steer(model, { prompt: ex.prompt, units: [{ span: [0, 5], factor: 0.5 }], maxNewTokens: 1 });
    expect(r.steered.tokens).toHaveLength(1);
    expect(r.steered.stop).toBe('max-new-tokens');
    const ac = new AbortController();
    ac.abort();
    await expectCode(steer(model, { prompt: ex.prompt, units: [{ span: [0, 5], factor: 0 }], maxNewTokens: 3, signal: ac.signal }), 'CANCELLED');
  });

  it('refuses bad requests with typed errors', async () => {
    const ex = examples[0]!;
    await expectCode(steer(model, { prompt: ' ', units: [{ text: 'a', factor: 0 }], maxNewTokens: 1 }), 'EMPTY_PROMPT');
    await expectCode(steer(model, { prompt: ex.prompt, units: [{ text: 'zebra', factor: 0 }], maxNewTokens: 1 }), 'BAD_SETTING', /"zebra" does not occur/);
    await expectCode(steer(model, { prompt: ex.prompt, units: [{ text: 'Karl', factor: -1 }], maxNewTokens: 1 }), 'BAD_SETTING', /^The factor for "Karl" must be a number from 0 to 1000 .*; got -1\.$/);
    await expectCode(steer(model, { prompt: ex.prompt, units: [{ text: 'Karl', factor: 0 }], maxNewTokens: 0 }), 'BAD_SETTING', /new tokens/);
    await expectCode(steer(model, { prompt: ex.prompt, units: [{ text: 'Karl', factor: 0 }], maxNewTokens: 1, mode: 'sideways' as never }), 'BAD_SETTING');
  });
});

describe('steering columns', () => {
  // "The cat sat" as word tokens after a BOS
  const prompt = 'The cat sat. A cat!';
  const tokens: TokenInfo[] = [{ id: 0, text: '<s>', start: 0, end: 0, role: 'prompt', special: true }];
  for (const m of prompt.matchAll(/ ?[A-Za-z]+|[.!]/g)) tokens.push({ id: tokens.length, text: m[0], start: m.index, end: m.index + m[0].length, role: 'prompt', special: false });

  it('maps text, spans and positions to prompt columns', () => {
    const { factors, units } = steeringColumns(tokens, prompt, [
      { text: 'cat', factor: 0 },
      { span: [8, 11], factor: 2.5 },
      { positions: [0], factor: 0.5 },
    ]);
    expect(units[0]!.positions).toEqual([2, 6]);
    expect(units[0]!.spans).toEqual([[4, 7], [15, 18]]);
    expect(units[1]!.positions).toEqual([3]);
    expect(units[1]!.label).toBe('sat');
    expect(Array.from(factors)).toEqual([0.5, 1, 0, 2.5, 1, 1, 0, 1]);
  });

  it('scales the factor by the covered share with partial overlap', () => {
    // "ca" covers 2 of the 4 characters of " cat"
    const { factors } = steeringColumns(tokens, prompt, [{ span: [4, 6], factor: 0 }], 'partial');
    expect(factors[2]).toBeCloseTo(0.5, 6);
    const amp = steeringColumns(tokens, prompt, [{ span: [4, 6], factor: 3 }], 'partial');
    expect(amp.factors[2]).toBeCloseTo(2, 6);
    expect(steeringColumns(tokens, prompt, [{ span: [4, 6], factor: 0 }]).factors[2]).toBe(0);
  });

  it('refuses what it cannot steer', async () => {
    await expectCode(() => steeringColumns(tokens, prompt, []), 'BAD_SETTING', /at least one/);
    await expectCode(() => steeringColumns(tokens, prompt, [{ text: 'dog', factor: 0 }]), 'BAD_SETTING', /does not occur/);
    await expectCode(() => steeringColumns(tokens, prompt, [{ text: 'cat', factor: NaN }]), 'BAD_SETTING', /factor/);
    await expectCode(() => steeringColumns(tokens, prompt, [{ span: [5, 40], factor: 0 }]), 'BAD_SETTING', /outside the prompt/);
    await expectCode(() => steeringColumns(tokens, prompt, [{ positions: [8], factor: 0 }]), 'BAD_SETTING', /outside the prompt's 8 tokens/);
    await expectCode(() => steeringColumns(tokens, prompt, [{ text: 'cat', span: [0, 3], factor: 0 }]), 'BAD_SETTING', /exactly one/);
    await expectCode(() => steeringColumns(tokens, prompt, [{ text: 'cat', factor: 0 }, { span: [5, 9], factor: 2 }]), 'BAD_SETTING', /steered twice/);
  });
});
