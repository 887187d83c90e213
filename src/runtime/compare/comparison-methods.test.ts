import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModel, type ValueInfo } from '../../graph/ir/onnx-ir';
import { referenceAttention } from '../../testing/reference-attention';
import { loadGpt2Fixture } from '../../testing/reference-gpt2';
import { AtmanModel } from '../atman/atman-model';
import { type ComparisonRequest, explainComparison, releaseComparisonSessions } from './comparison-methods';
import { planUnits } from '../atman/prepare';
import { type Explanation } from '../schema';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { expectCode } from '../../testing/expect-code';

const MODELS = 'fixtures/models';
const backend = createNodeBackend();
const PROMPT = 'The cat sat on the mat. The dog ran to the cat.';
const TARGET = ' The cat sat';


/** The explanation's sequence: prompt + target[:-1], its prompt length and target ids. */
function sequenceOf(x: Explanation): { ids: number[]; P: number; targetIds: number[] } {
  const P = x.tokens.filter((t) => t.role === 'prompt').length;
  const all = x.tokens.map((t) => t.id);
  return { ids: all.slice(0, -1), P, targetIds: all.slice(P) };
}

const ceOfRow = (logits: ArrayLike<number>, row: number, V: number, target: number): number => {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[row * V + v]!);
  let z = 0;
  for (let v = 0; v < V; v++) z += Math.exp(logits[row * V + v]! - max);
  return max + Math.log(z) - logits[row * V + target]!;
};

/** A plain onnxruntime session on the fixture's own graph, fed by hand: no engine code in the way. */
class PlainRunner {
  private constructor(
    private session: ort.InferenceSession,
    private inputs: ValueInfo[],
  ) {}
  static async open(name: string): Promise<PlainRunner> {
    const file = `${MODELS}/${name}/onnx/model.onnx`;
    return new PlainRunner(await ort.InferenceSession.create(file), decodeModel(new Uint8Array(readFileSync(file))).graph.inputs);
  }
  /** logits [S, V] of one sequence, with an optional attention mask */
  async logits(ids: number[], mask?: ArrayLike<number>): Promise<Float32Array> {
    const S = ids.length;
    const row = (f: (i: number) => number) => new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(f(i))), [1, S]);
    const feeds: Record<string, ort.Tensor> = {};
    for (const v of this.inputs) {
      if (v.name === 'input_ids') feeds[v.name] = row((i) => ids[i]!);
      else if (v.name === 'attention_mask') feeds[v.name] = row((i) => (mask ? mask[i]! : 1));
      else if (v.name === 'position_ids') feeds[v.name] = row((i) => i);
      else if (v.name.startsWith('past_key_values')) {
        feeds[v.name] = new ort.Tensor('float32', new Float32Array(0), [1, v.dims![1] as number, 0, v.dims![3] as number]);
      } else throw new Error(`unexpected input ${v.name}`);
    }
    return (await this.session.run(feeds, ['logits'])).logits!.data as Float32Array;
  }
  release = () => this.session.release();
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

describe('raw attention and rollout on tiny-gpt2, against an independent float64 forward pass', () => {
  let model: AtmanModel;
  const weights = loadGpt2Fixture(`${MODELS}/tiny-gpt2`);
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2`), backend);
  });
  afterAll(async () => {
    await releaseComparisonSessions(model);
    await model.release();
  });

  const req = (method: ComparisonRequest['method'], extra: Partial<ComparisonRequest> = {}): ComparisonRequest => ({
    method,
    prompt: PROMPT,
    target: TARGET,
    settings: { granularity: { kind: 'word' } },
    ...extra,
  });

  /** per layer, the mean over the chosen heads of the reference probabilities: [S, S] */
  const headMeans = (probs: Float64Array[], S: number, heads: number[], layers: number[]) =>
    layers.map((l) => {
      const m = new Float64Array(S * S);
      for (const h of heads) for (let i = 0; i < S * S; i++) m[i]! += probs[l]![h * S * S + i]! / heads.length;
      return m;
    });

  it('raw attention: mean over layers and heads of the mass on the unit, per target row', async () => {
    const x = await explainComparison(model, req('attention'));
    expect(x.method).toBe('attention');
    const { ids, P, targetIds } = sequenceOf(x);
    const S = ids.length;
    const T = targetIds.length;
    const ref = referenceAttention(weights, ids);
    const means = headMeans(ref.probs, S, [0, 1], [0, 1]);
    for (const u of x.units) {
      const expected = Array.from({ length: T }, (_, t) => means.reduce((a, A) => a + u.positions.reduce((s, k) => s + A[(P - 1 + t) * S + k]!, 0), 0) / means.length);
      expect(maxAbsDiff(u.perTarget, expected)).toBeLessThan(1e-5);
      expect(u.score).toBeCloseTo(expected.reduce((a, b) => a + b) / T, 6);
      expect(u.factors).toEqual([]);
    }
    // the baseline cross-entropy is the unperturbed model's
    const ce = targetIds.map((id, t) => ceOfRow(ref.logits, P - 1 + t, weights.vocab, id));
    expect(maxAbsDiff(x.baseline.crossEntropy, ce)).toBeLessThan(1e-4);
    // the same units as AtMan
    const plan = await planUnits(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
    expect(x.units.map((u) => u.positions)).toEqual(plan.units.map((u) => u.positions));
  });

  it('raw attention: chosen layer and head, scored at the last prompt position', async () => {
    const x = await explainComparison(model, req('attention', { attention: { layers: [1], heads: [0], query: 'last-prompt' } }));
    const { ids, P } = sequenceOf(x);
    const S = ids.length;
    const [A] = headMeans(referenceAttention(weights, ids).probs, S, [0], [1]);
    for (const u of x.units) {
      const expected = u.positions.reduce((s, k) => s + A![(P - 1) * S + k]!, 0);
      expect(u.score).toBeCloseTo(expected, 5);
      expect(u.perTarget[0]).toBeCloseTo(expected, 5);
    }
    expect(x.run.notes.join(' ')).toMatch(/layers 1, heads 0.*last prompt/);
  });

  it('the settings\' layers choose the attention layers when the attention options name none', async () => {
    for (const method of ['attention', 'rollout'] as const) {
      const fromSettings = await explainComparison(model, req(method, { settings: { granularity: { kind: 'word' }, layers: [1] } }));
      const fromOptions = await explainComparison(model, req(method, { attention: { layers: [1] } }));
      const all = await explainComparison(model, req(method, { settings: { granularity: { kind: 'word' }, layers: [1] }, attention: { layers: null } }));
      expect(fromSettings.settings.layers).toEqual([1]);
      expect(fromSettings.run.notes.join(' ')).toMatch(/layers 1, heads all/);
      expect(fromSettings.units.map((u) => u.score)).toEqual(fromOptions.units.map((u) => u.score));
      // an explicit null in the options still means every layer
      expect(all.run.notes.join(' ')).toMatch(/layers all/);
      expect(maxAbsDiff(all.units.map((u) => u.score), fromSettings.units.map((u) => u.score))).toBeGreaterThan(1e-4);
    }
  });

  it('rollout from the exposed probabilities equals rollout of the reference probabilities', async () => {
    const x = await explainComparison(model, req('rollout'));
    expect(x.method).toBe('rollout');
    const { ids, P } = sequenceOf(x);
    const S = ids.length;
    const [A1, A2] = headMeans(referenceAttention(weights, ids).probs, S, [0, 1], [0, 1]);
    // R = rownorm(A2 + I) · rownorm(A1 + I), written out here
    const hat = (A: Float64Array) =>
      Array.from({ length: S }, (_, q) => {
        const row = Array.from({ length: S }, (_, k) => A[q * S + k]! + (q === k ? 1 : 0));
        const z = row.reduce((a, b) => a + b);
        return row.map((v) => v / z);
      });
    const h1 = hat(A1!);
    const h2 = hat(A2!);
    const R = h2.map((row) => Array.from({ length: S }, (_, k) => row.reduce((a, w, m) => a + w * h1[m]![k]!, 0)));
    let total = 0;
    for (const u of x.units) {
      const expected = x.baseline.crossEntropy.map((_, t) => u.positions.reduce((s, k) => s + R[P - 1 + t]![k]!, 0));
      expect(maxAbsDiff(u.perTarget, expected)).toBeLessThan(1e-5);
      total += u.perTarget[0]!;
    }
    // the prompt's units hold the whole of the last prompt row
    expect(total).toBeCloseTo(1, 5);
  });

  it('occlusion by masking equals the reference forward pass with the unit\'s key columns dropped', async () => {
    const x = await explainComparison(model, { method: 'occlusion-mask', prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' }, postprocess: 'absolute' } });
    const { ids, P, targetIds } = sequenceOf(x);
    const ceOf = (logits: Float32Array) => targetIds.map((id, t) => ceOfRow(logits, P - 1 + t, weights.vocab, id));
    const ce0 = ceOf(referenceAttention(weights, ids).logits);
    for (const u of x.units) {
      const mask = ids.map((_, i) => (u.positions.includes(i) ? 0 : 1));
      const R = ceOf(referenceAttention(weights, ids, mask).logits).map((c, t) => c - ce0[t]!);
      expect(maxAbsDiff(u.perTarget, R)).toBeLessThan(1e-4);
      expect(u.score).toBeCloseTo(R.reduce((a, r) => a + Math.abs(r), 0), 4);
    }
    expect(x.units.filter((u) => u.score > 1e-2).length).toBeGreaterThan(2);
  });

  it('rejects layers and heads the model does not have', async () => {
    await expectCode(explainComparison(model, req('attention', { attention: { layers: [2] } })), 'BAD_SETTING', /Layer 2/);
    await expectCode(explainComparison(model, req('rollout', { attention: { heads: [5] } })), 'BAD_SETTING', /Head 5/);
    await expectCode(explainComparison(model, req('nonsense' as ComparisonRequest['method'])), 'BAD_SETTING');
  });
});

describe('occlusion', () => {
  const cases = ['tiny-gpt2', 'tiny-llama'] as const;
  for (const name of cases) {
    describe(name, () => {
      let model: AtmanModel;
      let plain: PlainRunner;
      beforeAll(async () => {
        model = await AtmanModel.load(folderSource(`${MODELS}/${name}`), backend);
        plain = await PlainRunner.open(name);
      });
      afterAll(async () => {
        await plain.release();
        await model.release();
      });

      it('masking equals separate plain runs with the unit\'s columns masked', async () => {
        const x = await explainComparison(model, { method: 'occlusion-mask', prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
        expect(x.method).toBe('occlusion-mask');
        const { ids, P, targetIds } = sequenceOf(x);
        const V = model.config.vocabSize;
        const ce0 = await plain.logits(ids).then((l) => targetIds.map((id, t) => ceOfRow(l, P - 1 + t, V, id)));
        expect(maxAbsDiff(x.baseline.crossEntropy, ce0)).toBeLessThan(1e-4);
        for (const u of x.units) {
          const mask = ids.map((_, i) => (u.positions.includes(i) ? 0 : 1));
          const l = await plain.logits(ids, mask);
          const R = targetIds.map((id, t) => ceOfRow(l, P - 1 + t, V, id) - ce0[t]!);
          expect(maxAbsDiff(u.perTarget, R)).toBeLessThan(1e-4);
          expect(u.score).toBeCloseTo(R.reduce((a, b) => a + b), 4);
          expect(u.factors).toEqual(u.positions.map((q) => [q, 0]));
        }
        expect(x.units.some((u) => Math.abs(u.score) > 1e-3)).toBe(true);
        expect(x.passes).toBe(x.units.length + 1);
      });

      it('deletion equals CE from plain runs of the shortened inputs (prompt and earlier-target units)', async () => {
        const x = await explainComparison(model, {
          method: 'occlusion-delete',
          prompt: PROMPT,
          target: TARGET,
          settings: { granularity: { kind: 'word' }, targetGranularity: 'token', postprocess: 'square' },
        });
        expect(x.method).toBe('occlusion-delete');
        const all = x.tokens.map((t) => t.id);
        const { P, targetIds } = sequenceOf(x);
        const V = model.config.vocabSize;
        // CE of target t given every token before it except the unit's, one plain run each
        const ceGiven = async (t: number, gone: number[]) => {
          const context = all.slice(0, P + t).filter((_, i) => !gone.includes(i));
          const l = await plain.logits(context);
          return ceOfRow(l, context.length - 1, V, targetIds[t]!);
        };
        const ce0 = await Promise.all(targetIds.map((_, t) => ceGiven(t, [])));
        expect(maxAbsDiff(x.baseline.crossEntropy, ce0)).toBeLessThan(1e-4);
        const targetUnits = x.units.filter((u) => u.positions[0]! >= P);
        expect(targetUnits.length).toBe(targetIds.length - 1);
        for (const u of x.units) {
          const R: number[] = [];
          for (let t = 0; t < targetIds.length; t++) R.push((await ceGiven(t, u.positions)) - ce0[t]!);
          expect(maxAbsDiff(u.perTarget, R)).toBeLessThan(1e-4);
          expect(u.score).toBeCloseTo(R.reduce((a, r) => a + r * r, 0), 4);
        }
        // an earlier target token cannot explain itself or what came before it
        for (const u of targetUnits) for (let t = 0; t <= u.positions[0]! - P; t++) expect(Math.abs(u.perTarget[t]!)).toBeLessThan(1e-4);
        expect(x.units.some((u) => Math.abs(u.perTarget[0]!) > 1e-3)).toBe(true);
      });

      it('gives the same scores whatever the batch size', async () => {
        for (const method of ['occlusion-mask', 'occlusion-delete'] as const) {
          const a = await explainComparison(model, { method, prompt: PROMPT, target: TARGET, batchSize: 1 });
          const b = await explainComparison(model, { method, prompt: PROMPT, target: TARGET, batchSize: 64 });
          expect(a.run.batches).toBeGreaterThan(b.run.batches);
          a.units.forEach((u, i) => expect(u.score).toBeCloseTo(b.units[i]!.score, 5));
        }
      });
    });
  }

  it('refuses a unit that leaves nothing before the target', async () => {
    const model = await AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2`), backend);
    try {
      for (const method of ['occlusion-mask', 'occlusion-delete'] as const) {
        await expectCode(explainComparison(model, { method, prompt: 'The cat sat.', target: ' The', settings: { granularity: { kind: 'paragraph' } } }), 'BAD_SETTING', /nothing to read/);
      }
    } finally {
      await model.release();
    }
  });

  it('cancels between batches and reports progress', async () => {
    const model = await AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2`), backend);
    try {
      const ctrl = new AbortController();
      const seen: number[] = [];
      await expectCode(
        explainComparison(model, { method: 'occlusion-mask', prompt: PROMPT, target: TARGET, batchSize: 2, signal: ctrl.signal, onProgress: (p) => (seen.push(p.loaded), ctrl.abort()) }),
        'CANCELLED',
      );
      expect(seen).toEqual([2]);
    } finally {
      await model.release();
    }
  });
});

describe('fused attention (tiny-llama-gqa)', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(`${MODELS}/tiny-llama-gqa`), backend, { mode: 'log-additive' });
  });
  afterAll(async () => {
    await releaseComparisonSessions(model);
    await model.release();
  });

  // tiny-llama computes the same attention decomposed, with the same weights: every method must agree.
  it.each(['attention', 'rollout', 'occlusion-mask'] as const)('%s reads the rewritten fused attention and equals the unfused tiny-llama', async (method) => {
    const x = await explainComparison(model, { method, prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
    expect(x.run.attention).toMatch(/GroupQueryAttention rewritten as standard ops/);
    const eager = await AtmanModel.load(folderSource(`${MODELS}/tiny-llama`), backend);
    try {
      const y = await explainComparison(eager, { method, prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
      expect(maxAbsDiff(x.units.map((u) => u.score), y.units.map((u) => u.score))).toBeLessThan(1e-4);
      expect(x.units.some((u) => Math.abs(u.score) > 1e-3)).toBe(true);
    } finally {
      await releaseComparisonSessions(eager);
      await eager.release();
    }
  });

  it('masking is refused on the fused path, where GroupQueryAttention reads only lengths from the mask', async () => {
    const fused = await AtmanModel.load(folderSource(`${MODELS}/tiny-llama-gqa`), backend, { mode: 'log-additive', attention: 'fused' });
    try {
      await expectCode(explainComparison(fused, { method: 'occlusion-mask', prompt: PROMPT, target: TARGET }), 'MODEL_UNSUPPORTED', /GroupQueryAttention.*deletion/);
    } finally {
      await fused.release();
    }
  });

  it('deletion runs and matches the unfused tiny-llama (same weights)', async () => {
    const x = await explainComparison(model, { method: 'occlusion-delete', prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
    const eager = await AtmanModel.load(folderSource(`${MODELS}/tiny-llama`), backend);
    try {
      const y = await explainComparison(eager, { method: 'occlusion-delete', prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
      expect(maxAbsDiff(x.units.map((u) => u.score), y.units.map((u) => u.score))).toBeLessThan(1e-4);
      expect(x.units.some((u) => Math.abs(u.score) > 1e-3)).toBe(true);
    } finally {
      await eager.release();
    }
  });
});

describe('probability session lifetime', () => {
  it('is made once per model and released on request', async () => {
    const model = await AtmanModel.load(folderSource(`${MODELS}/tiny-llama-sdpa`), backend);
    try {
      const a = await explainComparison(model, { method: 'attention', prompt: PROMPT, target: TARGET, settings: { targetGranularity: 'token' } });
      // every column a target row sees belongs to some unit, so each row's mass adds up to 1
      const { targetIds } = sequenceOf(a);
      for (let t = 0; t < targetIds.length; t++) expect(a.units.reduce((s, u) => s + u.perTarget[t]!, 0)).toBeCloseTo(1, 5);
      const b = await explainComparison(model, { method: 'rollout', prompt: PROMPT, target: TARGET, settings: { targetGranularity: 'token' } });
      for (let t = 0; t < targetIds.length; t++) expect(b.units.reduce((s, u) => s + u.perTarget[t]!, 0)).toBeCloseTo(1, 5);
      await releaseComparisonSessions(model);
      await releaseComparisonSessions(model);
      const c = await explainComparison(model, { method: 'attention', prompt: PROMPT, target: TARGET, settings: { targetGranularity: 'token' } });
      expect(c.units.map((u) => u.score)).toEqual(a.units.map((u) => u.score));
    } finally {
      await releaseComparisonSessions(model);
      await model.release();
    }
  });
});
