// The agreement check of the gradient methods, shared by the per-layout test files: the three
// methods through the engine (token-embedding input, backward graph appended by the autodiff pass,
// batched onnxruntime runs) against independent float64 versions built by finite differences on a
// float64 reference forward pass (reference-gradients.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtmanModel } from '../runtime/atman/atman-model';
import { createNodeBackend } from '../runtime/backends/node-backend';
import { explainComparison } from '../runtime/compare/comparison-methods';
import { releaseGradientSessions } from '../runtime/gradients/gradient-sessions';
import type { ModelDtype } from '../runtime/model/dtypes';
import type { Explanation, GradientMethod } from '../runtime/schema';
import { folderSource } from '../runtime/sources/folder-source';
import { type LogitsFn, type ReferenceProblem, referenceChefer, referenceInputXGradient, referenceIntegratedGradients } from './reference-gradients';

// short, so the finite-difference reference of Chefer's rule (two forward passes per attention weight) stays quick
const PROMPT = 'The cat sat on the mat.';
const TARGET = ' The cat';
export const GRADIENT_TOLERANCE = 1e-5;
const IG_STEPS = 8;

/** What the float64 side knows of a model: its layer and head counts, and a forward pass over token embeddings. */
export interface GradientFixture {
  dir: string;
  dtype?: ModelDtype;
  /** a prompt and target for this model's vocabulary, when the default tokenises too long */
  texts?: [string, string];
  layers: number;
  heads: number;
  vocab: number;
  /** the token-embedding row of an id, as the reference reads it */
  embedding: (id: number) => Float64Array;
  /** logits over the embeddings of a sequence of these ids (the ids matter for models that read them past the lookup) */
  logits: (ids: number[]) => LogitsFn;
  /** a note the run report must carry (the fp16 upcast, the straight-through quantization) */
  note?: RegExp;
  /** the least largest score that shows the test is not comparing zeros (defaults: input × gradient 1e-3, Chefer 1e-4) */
  minScale?: { input?: number; chefer?: number };
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

/** One describe block: the three methods on one model folder, each within GRADIENT_TOLERANCE relative. */
export function describeGradientAgreement(name: string, make: () => GradientFixture): void {
  describe(`${name}: gradient methods equal the float64 reference within 1e-5 relative`, () => {
    const fx = make();
    let model: AtmanModel;
    beforeAll(async () => {
      model = await AtmanModel.load(folderSource(fx.dir), createNodeBackend(), { selfCheck: false, ...(fx.dtype ? { dtype: fx.dtype } : {}) });
    });
    afterAll(async () => {
      await releaseGradientSessions(model);
      await model.release();
    });

    const run = async (method: GradientMethod) => {
      const x = await explainComparison(model, { method, prompt: fx.texts?.[0] ?? PROMPT, target: fx.texts?.[1] ?? TARGET, steps: IG_STEPS, settings: { granularity: { kind: 'token' }, targetGranularity: 'token' } });
      if (fx.note) expect(x.run.notes.join('\n')).toMatch(fx.note);
      return x;
    };
    const problemOf = (x: Explanation): ReferenceProblem => {
      const P = x.tokens.filter((t) => t.role !== 'target').length;
      const ids = x.tokens.map((t) => t.id).slice(0, -1);
      return { x: ids.map(fx.embedding), vocab: fx.vocab, promptLen: P, targetIds: x.tokens.map((t) => t.id).slice(P), logits: fx.logits(ids) };
    };
    const report = (method: string, err: number) => console.log(`${name} (${fx.dir}${fx.dtype ? `, ${fx.dtype}` : ''}) ${method} relative error ${err.toExponential(2)}`);

    it('input-x-gradient', async () => {
      const x = await run('input-x-gradient');
      const { err, scale } = relativeError(x, referenceInputXGradient(problemOf(x)));
      report('input-x-gradient', err);
      expect(scale).toBeGreaterThan(fx.minScale?.input ?? 1e-3);
      expect(err, `relative error ${err}`).toBeLessThan(GRADIENT_TOLERANCE);
    });

    it(`integrated-gradients (${IG_STEPS} steps) and its completeness report`, async () => {
      const x = await run('integrated-gradients');
      const { err } = relativeError(x, referenceIntegratedGradients(problemOf(x), IG_STEPS));
      report('integrated-gradients', err);
      expect(err, `relative error ${err}`).toBeLessThan(GRADIENT_TOLERANCE);
      const c = x.run.completeness!;
      expect(c.gap).toBeCloseTo(c.attributed - c.difference, 9);
      expect(x.run.steps).toBe(IG_STEPS);
    });

    it('chefer', async () => {
      const x = await run('chefer');
      const { err, scale } = relativeError(x, referenceChefer(problemOf(x), fx.layers, fx.heads));
      report('chefer', err);
      expect(scale).toBeGreaterThan(fx.minScale?.chefer ?? 1e-4);
      expect(err, `relative error ${err}`).toBeLessThan(GRADIENT_TOLERANCE);
    }, 120_000);
  });
}
