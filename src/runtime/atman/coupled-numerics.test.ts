// 8-bit models made the way transformers.js makes model_quantized.onnx (DynamicQuantizeLinear:
// one scale per whole activation tensor) couple rows and batch items. Their explanations must
// equal the one computed a pass at a time with full recomputation, whatever the engine's savings.
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainSettings } from '../../core/types';
import { AtmanModel } from './atman-model';
import { explainComparison } from '../compare/comparison-methods';
import { explain } from './explain';
import { type Explanation } from '../schema';
import { measureFaithfulness } from '../compare/faithfulness';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { createWebBackend } from '../backends/web-backend';

const backend = createNodeBackend();
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat and sat down.';
const TARGET = ' The dog sat';

const maxDiff = (a: Explanation, b: Explanation): number =>
  Math.max(...a.units.flatMap((u, i) => u.perTarget.map((r, t) => Math.abs(r - b.units[i]!.perTarget[t]!))), ...a.baseline.crossEntropy.map((c, t) => Math.abs(c - b.baseline.crossEntropy[t]!)));
const maxScore = (a: Explanation): number => Math.max(...a.units.flatMap((u) => u.perTarget.map(Math.abs)));

/** The definition: one pass at a time, every row recomputed, full logits read back. */
const oneAtATime = (model: AtmanModel, settings: Partial<ExplainSettings>) =>
  explain(model, { prompt: PROMPT, target: TARGET, settings, batchSize: 1, prefixReuse: false, scoreHead: false });

const models: AtmanModel[] = [];
afterAll(async () => Promise.all(models.map((m) => m.release())));

describe.each([
  ['tiny-gpt2-kv', 'multiplicative'],
  ['tiny-llama', 'log-additive'],
] as const)('%s q8 (DynamicQuantizeLinear + MatMulInteger)', (name, mode) => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(`fixtures/models/${name}`), backend, { dtype: 'q8', mode });
    models.push(model);
  });

  it('the self-check finds rows and batch items coupled, and the static check names the op', () => {
    const c = model.current.coupling;
    expect(model.onnxFile).toBe('onnx/model_quantized.onnx');
    expect(c.coupled).toBe(true);
    expect(c.ops.length).toBeGreaterThan(0);
    expect(c.ops.every((o) => o.opType === 'DynamicQuantizeLinear')).toBe(true);
    const probe = model.current.selfCheck!.coupling;
    expect(probe.rowsAfterMaxDiff).toBeGreaterThan(probe.tolerance);
    expect(c.rows && c.batch && c.prefix).toBe(true);
    expect(c.reason).toMatch(/DynamicQuantizeLinear/);
    // The rows are picked after the LM head, which sees every row.
    expect(model.current.scoring.rowsPickedAt).toBe('logits');
  });

  it('engine defaults (batching, prefix reuse, score head) equal one pass at a time with full recomputation within 1e-6, and the run says why', async () => {
    for (const settings of [{ mode }, { mode, kappa: null, targetGranularity: 'token' as const }]) {
      const reference = await oneAtATime(model, settings);
      const x = await explain(model, { prompt: PROMPT, target: TARGET, settings });
      expect(maxDiff(x, reference)).toBeLessThan(1e-6);
      expect(maxScore(reference)).toBeGreaterThan(1e-2);
      expect(x.run.rowCoupling).toMatchObject({ handling: 'exact' });
      expect(x.run.rowCoupling!.reason).toMatch(/DynamicQuantizeLinear/);
      expect(x.run.notes.join(' ')).toMatch(/one pass at a time/);
      expect(x.run.prefixReuse).toMatch(/^not used/);
      expect(x.batchSize).toBe(1);
      expect(x.run.rowsComputed).toBe(x.run.rowsFullRecompute);
    }
  });

  it('faithfulness curves run their passes the exact way too', async () => {
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { mode } });
    const fast = await measureFaithfulness(model, x, { randomRuns: 1 });
    const slow = await measureFaithfulness(model, x, { randomRuns: 1, batchSize: 1, prefixReuse: false, scoreHead: false });
    expect(Math.max(...fast.deletion.map((p, i) => Math.abs(p - slow.deletion[i]!)))).toBeLessThan(1e-6);
    expect(fast.run.rowCoupling?.handling).toBe('exact');
  });

  it('occlusion runs its passes one at a time, equal to batch 1, and says why', async () => {
    const x = await explainComparison(model, { prompt: PROMPT, target: TARGET, settings: { mode }, method: 'occlusion-delete', batchSize: 8 });
    const one = await explainComparison(model, { prompt: PROMPT, target: TARGET, settings: { mode }, method: 'occlusion-delete', batchSize: 1 });
    expect(maxDiff(x, one)).toBeLessThan(1e-6);
    expect(x.run.rowCoupling?.handling).toBe('exact');
    expect(x.batchSize).toBe(1);
    // A masked token still moves the per-tensor scales: masking does not hide it, and the engine says so.
    await expect(explainComparison(model, { prompt: PROMPT, target: TARGET, settings: { mode }, method: 'occlusion-mask' })).rejects.toThrow(/quantized with one scale/);
  });

  it('the opt-in dequantized variant batches and reuses prefixes, and reports how far it moves the scores', async () => {
    const reference = await oneAtATime(model, { mode });
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { mode }, coupledNumerics: 'dequantized' });
    const dev = x.run.rowCoupling!.deviation!;
    expect(x.run.rowCoupling!.handling).toBe('dequantized');
    expect(x.run.prefixReuse).toBe('used');
    expect(x.batchSize).toBeGreaterThan(1);
    expect(dev.passesCompared).toBeGreaterThan(1);
    // The measured deviation bounds the true one on the passes it compared, and it is reported relative to the largest score.
    expect(dev.relative).toBeCloseTo(dev.maxAbsScoreDiff / dev.maxAbsScore, 12);
    expect(dev.maxAbsScoreDiff).toBeGreaterThan(0);
    expect(maxDiff(x, reference)).toBeGreaterThanOrEqual(dev.maxAbsScoreDiff - 1e-6);
    expect(x.run.notes.join(' ')).toMatch(/dequantized/);
  });
});

describe('fp32 fixtures', () => {
  it.each(['tiny-gpt2', 'tiny-gpt2-kv', 'tiny-llama', 'tiny-llama-gqa'])('%s: the self-check finds rows and batch items independent', async (name) => {
    const mode = name.endsWith('gqa') ? 'log-additive' : 'multiplicative';
    const model = await AtmanModel.load(folderSource(`fixtures/models/${name}`), backend, { mode });
    models.push(model);
    const c = model.current.coupling;
    expect(c).toMatchObject({ coupled: false, rows: false, batch: false, prefix: false, reason: null, ops: [] });
    const probe = model.current.selfCheck!.coupling;
    expect(probe.rowsBeforeMaxDiff).toBeLessThanOrEqual(probe.tolerance);
    expect(probe.rowsAfterMaxDiff).toBeGreaterThan(probe.tolerance);
    if (name !== 'tiny-gpt2') expect(probe.prefix).not.toBeNull();
    expect(probe.skipped).toEqual([]);
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { mode } });
    expect(x.run.rowCoupling).toBeUndefined();
  });
});

describe('vision-language fixtures (input embeddings, cross-attention)', () => {
  it.each(['tiny-idefics3', 'tiny-vit-gpt2'])('%s: the coupling probe runs on the decoder and finds rows and batch items independent', async (name) => {
    const model = await AtmanModel.load(folderSource(`fixtures/models/${name}`), backend);
    models.push(model);
    expect(model.current.coupling).toMatchObject({ coupled: false, reason: null });
    const probe = model.current.selfCheck!.coupling;
    expect(probe.rowsAfterMaxDiff).toBeGreaterThan(probe.tolerance);
    expect(probe.batchMaxDiff).toBeLessThanOrEqual(probe.tolerance);
  });
});

describe('q8 elsewhere', () => {
  it('without the self-check, the static check alone flags the model and the runs are exact', async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2-kv'), backend, { dtype: 'q8', selfCheck: false });
    models.push(model);
    expect(model.current.coupling).toMatchObject({ coupled: true, probe: null, rows: false, batch: false, prefix: false });
    const x = await explain(model, { prompt: PROMPT, target: TARGET });
    expect(maxDiff(x, await oneAtATime(model, {}))).toBeLessThan(1e-6);
    expect(x.run.rowCoupling?.handling).toBe('exact');
  });

  it('onnxruntime-web (WASM, the default for q8 in transformers.js) is flagged and exact too', async () => {
    const web = createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm');
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-llama'), web, { dtype: 'q8' });
    models.push(model);
    expect(model.current.coupling).toMatchObject({ coupled: true, rows: true, batch: true, prefix: true });
    const x = await explain(model, { prompt: PROMPT, target: TARGET });
    expect(x.model.backend).toBe('wasm');
    expect(maxDiff(x, await oneAtATime(model, {}))).toBeLessThan(1e-6);
  });
});

describe('a check the backend refuses', () => {
  it('is recorded as skipped, not counted as coupling, and the model still loads', async () => {
    // A real session that refuses batches above 1, as a device short of memory might.
    const limited = {
      ...backend,
      async createSession(bytes: Uint8Array, external: Parameters<typeof backend.createSession>[1]) {
        const s = await backend.createSession(bytes, external);
        const run = s.run.bind(s);
        s.run = (async (feeds: Parameters<typeof s.run>[0], ...rest: unknown[]) => {
          if (feeds.input_ids!.dims[0]! > 1) throw new Error('refused: batch too large');
          return (run as (...a: unknown[]) => ReturnType<typeof s.run>)(feeds, ...rest);
        }) as typeof s.run;
        return s;
      },
    };
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2-kv'), limited);
    models.push(model);
    const probe = model.current.selfCheck!.coupling;
    expect(probe.batchMaxDiff).toBeNull();
    expect(probe.skipped.join(' ')).toMatch(/batch of two: refused: batch too large/);
    expect(probe.prefix).not.toBeNull();
    expect(model.current.coupling.coupled).toBe(false);
  });
});
