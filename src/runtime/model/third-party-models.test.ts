// The engine on model folders made from graphs of another project's tools (fixtures/third-party,
// laid out by scripts/fixtures/third-party.ts): onnxruntime-genai's fp16 GroupQueryAttention decoder
// (log-additive through the fused op's attention bias) and onnxruntime's optimized GPT-2 (stacked
// caches split, contrib Attention written out as standard ops, int32 inputs) explain end to end.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlMode, ExplainSettings } from '../../core/types';
import { DataType, decodeModel, encodeModel } from '../../graph/ir/onnx-ir';
import { makeAttribute } from '../../graph/ir/onnx-build';
import { splitStackedCache } from '../../graph/split-stacked-cache';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from '../atman/atman-model';
import { explain } from '../atman/explain';
import { planUnits } from '../atman/prepare';
import { type Explanation } from '../schema';
import { type PastTensor, buildFeeds } from '../atman/feeds';
import { parseModelConfig } from './model-config';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { loadTokenizer, withinVocabulary } from './text-tokenizer';
import { createWebBackend } from '../backends/web-backend';

const backend = createNodeBackend();
const QWEN = 'fixtures/models/ortgenai-tiny-qwen-gqa';
const GPT2 = 'fixtures/models/ortgenai-tiny-random-gpt2';
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat and sat down.';
const TARGET = ' The dog sat';

const maxDiff = (a: Explanation, b: Explanation): number =>
  Math.max(...a.units.flatMap((u, i) => u.perTarget.map((r, t) => Math.abs(r - b.units[i]!.perTarget[t]!))));
const maxAbs = (a: Explanation): number => Math.max(...a.units.flatMap((u) => u.perTarget.map(Math.abs)));

describe('onnxruntime-genai GroupQueryAttention decoder (fp16), log-additive on the fused path', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(QWEN), backend, { dtype: 'fp16', mode: 'log-additive', attention: 'fused' });
  });
  afterAll(() => model.release());

  it('loads: the log-factors go through attention_bias of both fused layers, and the self-check passes', () => {
    const { report, selfCheck, cacheSplit, cache } = model.current;
    expect(report.sites.map((s) => [s.kind, s.controlled])).toEqual([
      ['GroupQueryAttention', true],
      ['GroupQueryAttention', true],
    ]);
    expect(selfCheck!.maxAbsDiff).toBeLessThanOrEqual(selfCheck!.tolerance);
    expect(cacheSplit.layers).toEqual([]);
    expect([...cache!.entries()]).toContainEqual(['past_key_values.1.value', 'present.1.value']);
    expect(model.embeddings?.dim).toBe(64);
    const inputs = new Map(model.current.inputs.map((v) => [v.name, v.elemType]));
    expect([inputs.get('input_ids'), inputs.get('attention_mask')]).toEqual([DataType.INT32, DataType.INT64]);
  });

  // Measured here (scripts/fixtures/third-party-agreement.ts): batching and prefix reuse change
  // nothing (difference 0: the same fp16 arithmetic row for row); the score head differs by up to
  // 1.9e-6, because it takes log-softmax in float32 inside the graph where the reference takes it in
  // float64 from the same fp16 logits, and the cross-entropies are near ln(1000) = 6.9, where one
  // float32 step is 4.8e-7. The random model's logits are tiny (|logit| < 0.02), so its scores are
  // small too (1.5e-5 to 8.6e-5): hence bounds of 5e-6 and 1e-6 rather than the 1e-5 used for fp32
  // models, and a check that the scores are not all zero.
  const settingsList: Array<Partial<ExplainSettings>> = [
    { mode: 'log-additive' },
    { mode: 'log-additive', kappa: null, targetGranularity: 'token' },
    { mode: 'log-additive', granularity: { kind: 'sentence' }, factor: 0 },
  ];
  for (const settings of settingsList) {
    it(`equals one pass at a time with full recomputation: ${JSON.stringify(settings)}`, async () => {
      const base = { prompt: PROMPT, target: TARGET, settings };
      const naive = await explain(model, { ...base, batchSize: 1, prefixReuse: false, scoreHead: false });
      const batched = await explain(model, { ...base, batchSize: 4, prefixReuse: false, scoreHead: false });
      const prefix = await explain(model, { ...base, batchSize: 4, prefixReuse: true, scoreHead: false });
      const full = await explain(model, { ...base, batchSize: 4 });
      expect(naive.run).toMatchObject({ scoreHead: false, prefixReuse: 'off', batchSize: 1 });
      expect(maxAbs(naive)).toBeGreaterThan(5e-6);
      expect(naive.units.every((u) => u.perTarget.every(Number.isFinite))).toBe(true);
      expect(maxDiff(batched, naive)).toBeLessThan(1e-6);
      expect(maxDiff(prefix, naive)).toBeLessThan(1e-6);
      expect(maxDiff(full, naive)).toBeLessThan(5e-6);
      // the baseline cross-entropies are those of a 1000-token model with near-uniform logits
      naive.baseline.crossEntropy.forEach((ce, t) => {
        expect(ce).toBeCloseTo(Math.log(1000), 1);
        expect(Math.abs(ce - full.baseline.crossEntropy[t]!)).toBeLessThan(5e-6);
      });
      expect(full.run.prefixReuse).toMatch(/^used$|^not used: GroupQueryAttention/);
    });
  }

  it('conceptual suppression reads the fp16 token table: the repeated " cat" is dragged along', async () => {
    const plan = await planUnits(model, { prompt: PROMPT, target: TARGET, settings: { mode: 'log-additive', kappa: 0.7 } });
    const cat = plan.units.find((u) => u.label.trim() === 'cat')!;
    expect(cat.factors.filter(([, f]) => Math.abs(f - 0.1) < 1e-6)).toHaveLength(2);
  });

  it('names the fp16 file it lacks when asked for fp32', async () => {
    await expectCode(AtmanModel.load(folderSource(QWEN), backend, { dtype: 'fp32' }), 'MODEL_FILES_MISSING', /onnx\/model\.onnx/);
  });
});

describe("onnxruntime's optimized GPT-2 (stacked caches, int32 inputs)", () => {
  const config = parseModelConfig(JSON.parse(readFileSync(`${GPT2}/config.json`, 'utf8')));
  const originalBytes = new Uint8Array(readFileSync(`${GPT2}/onnx/model.onnx`));
  const split = decodeModel(originalBytes);
  splitStackedCache(split);
  const ids = [17, 250, 999, 3, 98, 401, 77, 12, 640];
  const sessions: ort.InferenceSession[] = [];
  afterAll(async () => Promise.all(sessions.map((s) => s.release())));
  const session = async (bytes: Uint8Array) => {
    const s = await ort.InferenceSession.create(bytes);
    sessions.push(s);
    return s;
  };

  it('the feeds fill the original graph (an empty stacked past) and the split one with the same logits, in each input type', async () => {
    const original = decodeModel(originalBytes).graph.inputs;
    const a = buildFeeds(original, config, ort.Tensor, { ids, batch: 2, factors: null });
    expect([a.input_ids!.type, a.position_ids!.type, a.attention_mask!.type]).toEqual(['int32', 'int32', 'int32']);
    expect(a.past_3!.dims).toEqual([2, 2, 4, 0, 8]);
    const b = buildFeeds(split.graph.inputs, config, ort.Tensor, { ids, batch: 2, factors: null });
    expect(b['past_key_values.3.key']!.dims).toEqual([2, 4, 0, 8]);
    const la = (await (await session(originalBytes)).run(a)).logits!;
    const lb = (await (await session(encodeModel(split))).run(b)).logits!;
    expect(la.dims).toEqual([2, ids.length, 1000]);
    expect(Array.from(lb.data as Float32Array)).toEqual(Array.from(la.data as Float32Array));
  });

  it('the split graph takes a cached prefix as the engine feeds it (tiled over the batch) and reproduces the full pass', async () => {
    const s = await session(encodeModel(split));
    const P = 4;
    const full = (await s.run(buildFeeds(split.graph.inputs, config, ort.Tensor, { ids, batch: 1, factors: null }))).logits!.data as Float32Array;
    const first = await s.run(buildFeeds(split.graph.inputs, config, ort.Tensor, { ids, batch: 1, factors: null }));
    const past = new Map<string, PastTensor>();
    for (let l = 0; l < 5; l++) {
      for (const kind of ['key', 'value']) {
        const t = first[`present.${l}.${kind}`]!;
        past.set(`past_key_values.${l}.${kind}`, { type: 'float32', data: t.data as Float32Array, dims: t.dims });
      }
    }
    const rest = await s.run(buildFeeds(split.graph.inputs, config, ort.Tensor, { ids: ids.slice(P), batch: 2, factors: null, pastLength: P, past }));
    const got = rest.logits!.data as Float32Array;
    const V = 1000;
    const R = ids.length - P;
    let worst = 0;
    for (let b = 0; b < 2; b++) for (let i = 0; i < R * V; i++) worst = Math.max(worst, Math.abs(got[b * R * V + i]! - full[P * V + i]!));
    expect(worst).toBeLessThan(1e-5);
  });

  it("refuses words its tokenizer maps past the model's 1000 tokens, in words", async () => {
    const tok = withinVocabulary(await loadTokenizer(folderSource(GPT2)), config.vocabSize);
    expect(tok.encodePrompt(' the man said that it was').map((t) => t.id)).toEqual([262, 582, 531, 326, 340, 373]);
    await expectCode(() => tok.encodePrompt('The cat sat'), 'TOKEN_OUT_OF_VOCABULARY', /" cat" into token 3797.*0 to 999/);
    await expectCode(() => tok.encodeTarget(' house'), 'TOKEN_OUT_OF_VOCABULARY');
  });

  it('refuses, in words, a contrib Attention variant that cannot be written out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atman-gpt2-'));
    try {
      cpSync(GPT2, dir, { recursive: true });
      const m = decodeModel(originalBytes);
      m.graph.nodes.find((n) => n.opType === 'Attention')!.attributes.push(makeAttribute('do_rotary', 1));
      writeFileSync(join(dir, 'onnx/model.onnx'), encodeModel(m));
      await expectCode(AtmanModel.load(folderSource(dir), backend, { mode: 'log-additive' }), 'MODEL_UNSUPPORTED', /fused Attention node .*GptAttention_0.*do_rotary/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const mode of ['multiplicative', 'log-additive'] as ControlMode[]) {
    describe(`end to end, ${mode}`, () => {
      let model: AtmanModel;
      beforeAll(async () => {
        model = await AtmanModel.load(folderSource(GPT2), backend, { mode });
      });
      afterAll(() => model.release());
      // Words GPT-2's tokenizer gives ids below 1000, with repeats for conceptual suppression.
      const prompt = 'The man said that it was the first time the man had been there, and they were all out.';
      const target = ' It was the';

      it('loads: caches split, the five contrib Attention nodes written out and controlled, self-check passed', () => {
        const { cacheSplit, attention, report, cache, selfCheck } = model.current;
        expect(cacheSplit.layers.map((l) => l.stacked)).toEqual(['past_0', 'past_1', 'past_2', 'past_3', 'past_4']);
        expect(attention.kind).toBe('decomposed');
        expect(attention.decomposition!.nodes.map((n) => n.op)).toEqual(Array(5).fill('Attention'));
        expect(report.sites.map((x) => [x.kind, x.controlled])).toEqual(Array(5).fill(['decomposed', true]));
        expect(cache!.get('past_key_values.4.key')).toBe('present.4.key');
        expect(selfCheck!.maxAbsDiff).toBeLessThanOrEqual(selfCheck!.tolerance);
        expect(model.embeddings?.dim).toBe(32);
      });

      const settingsList: Array<Partial<ExplainSettings>> = [
        { mode },
        { mode, kappa: null, targetGranularity: 'token' },
        { mode, granularity: { kind: 'sentence' }, factor: 0 },
      ];
      for (const settings of settingsList) {
        it(`prefix reuse, batching and the score head equal one pass at a time with full recomputation: ${JSON.stringify(settings)}`, async () => {
          const base = { prompt, target, settings };
          const naive = await explain(model, { ...base, batchSize: 1, prefixReuse: false, scoreHead: false });
          const fast = await explain(model, { ...base, batchSize: 4 });
          expect(naive.tokens.every((t) => t.id < 1000)).toBe(true);
          expect(maxAbs(naive)).toBeGreaterThan(1e-4);
          expect(maxDiff(fast, naive)).toBeLessThan(1e-5);
          expect(fast.run.prefixReuse).toBe('used');
          if (settings.kappa === null) expect(fast.run.rowsComputed).toBeLessThan(0.75 * fast.run.rowsFullRecompute);
        });
      }

      it('conceptual suppression reads the EmbedLayerNormalization word table: the repeated " man" is dragged along', async () => {
        const plan = await planUnits(model, { prompt, target, settings: { mode, kappa: 0.7 } });
        const man = plan.units.find((u) => u.label.trim() === 'man')!;
        expect(man.factors.filter(([, f]) => Math.abs(f - 0.1) < 1e-6)).toHaveLength(2);
      });

      it('refuses a prompt with a token past the vocabulary before any pass runs', async () => {
        await expectCode(explain(model, { prompt: 'The cat sat on the mat.', target }), 'TOKEN_OUT_OF_VOCABULARY', /" cat"/);
      });
    });
  }
});

describe('the onnxruntime-web code path (WASM in Node) runs both folders as onnxruntime-node does', () => {
  const cases = [
    { folder: QWEN, dtype: 'fp16', mode: 'log-additive', prompt: 'The cat sat on the mat.', target: ' The cat' },
    { folder: GPT2, dtype: 'fp32', mode: 'multiplicative', prompt: 'The man said that it was the first time', target: ' It was' },
  ] as const;
  for (const c of cases) {
    it(`${c.folder} (${c.dtype}, ${c.mode})`, async () => {
      ortWeb.env.wasm.numThreads = 1;
      const web = createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm');
      const a = await AtmanModel.load(folderSource(c.folder), web, { dtype: c.dtype, mode: c.mode });
      const b = await AtmanModel.load(folderSource(c.folder), backend, { dtype: c.dtype, mode: c.mode });
      try {
        const xa = await explain(a, { prompt: c.prompt, target: c.target, settings: { mode: c.mode } });
        const xb = await explain(b, { prompt: c.prompt, target: c.target, settings: { mode: c.mode } });
        expect(xa.model.backend).toBe('wasm');
        expect(maxAbs(xb)).toBeGreaterThan(1e-5);
        expect(maxDiff(xa, xb)).toBeLessThan(1e-5);
      } finally {
        await a.release();
        await b.release();
      }
    });
  }
});
