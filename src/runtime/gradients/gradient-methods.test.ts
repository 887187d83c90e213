// The three gradient methods from the engine (token-embedding input, backward graph appended by the
// autodiff pass, batched onnxruntime runs) against independent float64 versions built by finite
// differences on the float64 reference forward passes (src/testing/reference-gradients.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGpt2Fixture, referenceLogits64 } from '../../testing/reference-gpt2';
import { llamaLogits, loadLlamaReference } from '../../testing/reference-vlm';
import { type ReferenceProblem, referenceChefer, referenceInputXGradient, referenceIntegratedGradients } from '../../testing/reference-gradients';
import { AtmanModel } from '../atman/atman-model';
import { createNodeBackend } from '../backends/node-backend';
import { explainComparison } from '../compare/comparison-methods';
import { folderSource } from '../sources/folder-source';
import type { Explanation, GradientMethod } from '../schema';
import { releaseGradientSessions } from './gradient-sessions';
import { expectCode } from '../../testing/expect-code';

// short, so the finite-difference reference of Chefer's rule (two forward passes per attention weight) stays quick
const PROMPT = 'The cat sat on the mat.';
const TARGET = ' The cat';
const TOLERANCE = 1e-5;
const IG_STEPS = 8;

interface Fixture {
  dir: string;
  /** a prompt and target for this model's vocabulary, when the default tokenises too long */
  texts?: [string, string];
  layers: number;
  heads: number;
  problem: (ids: number[], promptLen: number, targetIds: number[]) => ReferenceProblem;
}

function gpt2Fixture(name: string): Fixture {
  const w = loadGpt2Fixture('fixtures/models/tiny-gpt2');
  const wte = w.tensors.get('transformer.wte.weight')!;
  return {
    dir: `fixtures/models/${name}`,
    layers: w.nLayer,
    heads: w.nHead,
    problem: (ids, promptLen, targetIds) => ({
      x: ids.map((id) => wte.slice(id * w.nEmbd, (id + 1) * w.nEmbd)),
      vocab: w.vocab,
      promptLen,
      targetIds,
      logits: (embeds, editProbs) => referenceLogits64(w, ids, null, 'multiplicative', undefined, { tokenEmbedding: (i) => embeds[i]!, ...(editProbs ? { editProbs } : {}) }),
    }),
  };
}

function llamaFixture(dir: string, texts?: [string, string]): Fixture {
  const ref = loadLlamaReference(dir);
  const E = ref.hidden;
  return {
    dir,
    ...(texts ? { texts } : {}),
    layers: ref.nLayer,
    heads: ref.nHead,
    problem: (ids, promptLen, targetIds) => ({
      x: ids.map((id) => ref.embedTable.slice(id * E, (id + 1) * E)),
      vocab: ref.vocab,
      promptLen,
      targetIds,
      logits: (embeds, editProbs) => llamaLogits(ref, embeds, null, 'multiplicative', undefined, editProbs),
    }),
  };
}

/** max |engine - reference| over all units and target tokens, relative to the largest reference score */
function relativeError(x: Explanation, ref: Float64Array[]): { err: number; scale: number } {
  let err = 0;
  let scale = 0;
  for (const u of x.units) {
    expect(u.positions.length).toBe(1);
    u.perTarget.forEach((v, t) => {
      const r = ref[t]![u.positions[0]!]!;
      err = Math.max(err, Math.abs(v - r));
      scale = Math.max(scale, Math.abs(r));
    });
  }
  return { err: err / scale, scale };
}

const fixtures: Array<[string, () => Fixture]> = [
  ['tiny-gpt2', () => gpt2Fixture('tiny-gpt2')],
  ['tiny-gpt2-kv', () => gpt2Fixture('tiny-gpt2-kv')],
  ['tiny-llama', () => llamaFixture('fixtures/models/tiny-llama')],
  // The demo's vocabulary spells unknown words letter by letter; words of its task keep the sequence short.
  ['the demo text model (atman-demo-facts)', () => llamaFixture('public/models/atman-demo-facts', [' the cat the', ' cat the'])],
];

describe.each(fixtures)('%s: gradient methods equal the float64 reference within 1e-5 relative', (_name, make) => {
  const fx = make();
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(fx.dir), createNodeBackend(), { selfCheck: false });
  });
  afterAll(async () => {
    await releaseGradientSessions(model);
    await model.release();
  });

  const run = (method: GradientMethod) =>
    explainComparison(model, { method, prompt: fx.texts?.[0] ?? PROMPT, target: fx.texts?.[1] ?? TARGET, steps: IG_STEPS, settings: { granularity: { kind: 'token' }, targetGranularity: 'token' } });
  const problemOf = (x: Explanation): ReferenceProblem => {
    const P = x.tokens.filter((t) => t.role !== 'target').length;
    const ids = x.tokens.map((t) => t.id);
    return fx.problem(ids.slice(0, -1), P, ids.slice(P));
  };

  it('input-x-gradient', async () => {
    const x = await run('input-x-gradient');
    const { err, scale } = relativeError(x, referenceInputXGradient(problemOf(x)));
    console.log(`${fx.dir} input-x-gradient relative error ${err.toExponential(2)}`);
    expect(scale).toBeGreaterThan(1e-3);
    expect(err, `relative error ${err}`).toBeLessThan(TOLERANCE);
  });

  it(`integrated-gradients (${IG_STEPS} steps) and its completeness report`, async () => {
    const x = await run('integrated-gradients');
    const { err } = relativeError(x, referenceIntegratedGradients(problemOf(x), IG_STEPS));
    console.log(`${fx.dir} integrated-gradients relative error ${err.toExponential(2)}`);
    expect(err, `relative error ${err}`).toBeLessThan(TOLERANCE);
    const c = x.run.completeness!;
    expect(c.gap).toBeCloseTo(c.attributed - c.difference, 9);
    expect(x.run.steps).toBe(IG_STEPS);
  });

  it('chefer', async () => {
    const x = await run('chefer');
    const { err, scale } = relativeError(x, referenceChefer(problemOf(x), fx.layers, fx.heads));
    console.log(`${fx.dir} chefer relative error ${err.toExponential(2)}`);
    expect(scale).toBeGreaterThan(1e-4);
    expect(err, `relative error ${err}`).toBeLessThan(TOLERANCE);
  }, 120_000);
});

describe('refusals', () => {
  it("refuses integration steps outside the number rule's range, in the rule's words", async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), createNodeBackend(), { selfCheck: false });
    try {
      for (const steps of [0, 1001, 2.5]) {
        await expectCode(explainComparison(model, { method: 'integrated-gradients', prompt: PROMPT, target: TARGET, steps }), 'BAD_SETTING', /integration steps must be a whole number from 1 to 1000/);
      }
    } finally {
      await model.release();
    }
  });

  it('says which op blocks the gradient when the token embeddings are fused away', async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/ortgenai-tiny-random-gpt2'), createNodeBackend(), { selfCheck: false });
    try {
      // (this fixture's random model reads ids below 1000 only)
      await expectCode(explainComparison(model, { method: 'input-x-gradient', prompt: 'a b c', target: ' a' }), 'GRADIENT_UNSUPPORTED', /EmbedLayerNormalization/);
    } finally {
      await model.release();
    }
  });
});
