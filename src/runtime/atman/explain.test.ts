import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, encodeModel } from '../../graph/ir/onnx-ir';
import { emptyGraph, makeNode, makeTensor, makeValueInfo } from '../../graph/ir/onnx-build';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { generateGreedy } from './generate';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { createWebBackend } from '../backends/web-backend';
import { expectCode } from '../../testing/expect-code';

const MODELS = 'fixtures/models';
const backend = createNodeBackend();
const PROMPT = 'The cat sat on the mat. The dog ran to the cat.';
const TARGET = ' The cat';


describe('explain on every fixture', () => {
  const cases: Array<[string, 'fp32' | 'q4', Array<'multiplicative' | 'log-additive'>]> = [
    ['tiny-gpt2', 'fp32', ['multiplicative', 'log-additive']],
    ['tiny-gpt2', 'q4', ['multiplicative', 'log-additive']],
    ['tiny-gpt2-external', 'fp32', ['multiplicative', 'log-additive']],
    ['tiny-llama', 'fp32', ['multiplicative', 'log-additive']],
    ['tiny-llama-sdpa', 'fp32', ['multiplicative', 'log-additive']],
    ['tiny-llama-gqa', 'fp32', ['multiplicative', 'log-additive']],
    ['tiny-qwen2-builder', 'fp32', ['multiplicative', 'log-additive']],
    ['tiny-qwen2-builder', 'q4', ['multiplicative', 'log-additive']],
  ];
  for (const [name, dtype, modes] of cases) {
    for (const mode of modes) {
      it(`${name} ${dtype} ${mode}`, async () => {
        const model = await AtmanModel.load(folderSource(`${MODELS}/${name}`), backend, { dtype, mode });
        try {
          expect(model.current.selfCheck!.maxAbsDiff).toBeLessThanOrEqual(model.current.selfCheck!.tolerance);
          const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { mode } });
          const prompt = x.tokens.filter((t) => t.role === 'prompt');
          const target = x.tokens.filter((t) => t.role === 'target');
          expect(x.units).toHaveLength(prompt.length);
          expect(x.passes).toBe(prompt.length + 1);
          expect(target.length).toBeGreaterThan(0);
          expect(target.every((t) => !t.special)).toBe(true);
          expect(x.units.every((u) => Number.isFinite(u.score) && u.perTarget.length === target.length)).toBe(true);
          expect(x.units.some((u) => Math.abs(u.score) > 1e-4)).toBe(true);
          expect(x.model).toMatchObject({ dtype, backend: 'cpu' });
          for (const t of prompt) if (!t.special) expect(PROMPT.slice(t.start, t.end)).toBe(t.text);
        } finally {
          await model.release();
        }
      });
    }
  }
});

describe('explain semantics', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2`), backend);
  });
  afterAll(() => model.release());

  it('gives the same scores whatever the batch size', async () => {
    const a = await explain(model, { prompt: PROMPT, target: TARGET, batchSize: 1 });
    const b = await explain(model, { prompt: PROMPT, target: TARGET, batchSize: 64 });
    expect(a.batchSize).toBe(1);
    a.units.forEach((u, i) => expect(u.score).toBeCloseTo(b.units[i]!.score, 5));
  });

  it('per-token target granularity adds earlier target tokens as units, which cannot explain themselves', async () => {
    const x = await explain(model, { prompt: PROMPT, target: ' The cat sat', settings: { targetGranularity: 'token', kappa: null } });
    const T = x.tokens.filter((t) => t.role === 'target').length;
    const targetUnits = x.units.filter((u) => x.tokens[u.positions[0]!]!.role === 'target');
    expect(targetUnits).toHaveLength(T - 1);
    for (const u of targetUnits) {
      const t = u.positions[0]! - (x.tokens.length - T);
      for (let k = 0; k <= t; k++) expect(Math.abs(u.perTarget[k]!)).toBeLessThan(1e-5);
    }
  });

  it('post-processing changes the summary, never the raw values', async () => {
    const none = await explain(model, { prompt: PROMPT, target: TARGET, settings: { postprocess: 'none' } });
    const sq = await explain(model, { prompt: PROMPT, target: TARGET, settings: { postprocess: 'square' } });
    none.units.forEach((u, i) => {
      expect(sq.units[i]!.perTarget).toEqual(u.perTarget);
      expect(sq.units[i]!.score).toBeCloseTo(u.perTarget.reduce((a, r) => a + r * r, 0), 10);
    });
  });

  it('word and sentence units cover the prompt', async () => {
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'sentence' } } });
    expect(x.units.map((u) => u.label)).toEqual(['The cat sat on the mat.', 'The dog ran to the cat.']);
    const w = await explain(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
    expect(w.units.map((u) => u.label).slice(0, 4)).toEqual(['The', 'cat', 'sat', 'on']);
  });

  it('conceptual suppression drags along repeated tokens', async () => {
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { kappa: 0.7 } });
    const cat = x.units.findIndex((u) => u.label.trim() === 'cat');
    expect(cat).toBeGreaterThanOrEqual(0);
    // the second " cat" has the same embedding: factor 1 - 1*(1-0.1) = 0.1 there too
    expect(x.units[cat]!.factors.filter(([, f]) => Math.abs(f - 0.1) < 1e-6).length).toBeGreaterThanOrEqual(2);
    const off = await explain(model, { prompt: PROMPT, target: TARGET, settings: { kappa: null } });
    expect(off.units[cat]!.factors).toHaveLength(1);
  });

  it('cancels between batches', async () => {
    const ctrl = new AbortController();
    await expectCode(
      explain(model, { prompt: PROMPT, target: TARGET, batchSize: 2, signal: ctrl.signal, onProgress: () => ctrl.abort() }),
      'CANCELLED',
      /after 2 of/,
    );
  });

  it('generates greedily', async () => {
    const text = await generateGreedy(model, 'The cat', 4);
    expect(typeof text).toBe('string');
  });

  it('rejects bad input with typed errors', async () => {
    await expectCode(explain(model, { prompt: '', target: 'x' }), 'EMPTY_PROMPT');
    await expectCode(explain(model, { prompt: 'x', target: '   ' }), 'EMPTY_TARGET');
    await expectCode(explain(model, { prompt: 'x', target: 'y', settings: { factor: -1 } }), 'BAD_SETTING');
    await expectCode(explain(model, { prompt: 'x', target: 'y', settings: { factor: Number.NaN } }), 'BAD_SETTING');
    await expectCode(explain(model, { prompt: 'x', target: 'y', settings: { kappa: 1.5 } }), 'BAD_SETTING');
    await expectCode(explain(model, { prompt: 'x '.repeat(200), target: 'y' }), 'TOO_LONG', /at most 128/);
    await expectCode(explain(model, { prompt: 'x', target: 'y', settings: { layers: [7] } }), 'BAD_SETTING', /Layer 7/);
  });
});

describe('the onnxruntime-web code path (WASM in Node) agrees with onnxruntime-node', () => {
  it('same scores on tiny-llama', async () => {
    ortWeb.env.wasm.numThreads = 1;
    const web = createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm');
    // the same file on both: left to choose, WASM would take the 8-bit variant
    const a = await AtmanModel.load(folderSource(`${MODELS}/tiny-llama`), web, { dtype: 'fp32' });
    const b = await AtmanModel.load(folderSource(`${MODELS}/tiny-llama`), backend, { dtype: 'fp32' });
    const xa = await explain(a, { prompt: PROMPT, target: TARGET });
    const xb = await explain(b, { prompt: PROMPT, target: TARGET });
    expect(xa.model.backend).toBe('wasm');
    xa.units.forEach((u, i) => expect(Math.abs(u.score - xb.units[i]!.score)).toBeLessThan(1e-4));
    await a.release();
    await b.release();
  });
});

describe('model loading failures', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'atman-bad-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const copy = (name: string): string => {
    const to = join(dir, `${name}-${Math.random().toString(36).slice(2)}`);
    cpSync(`${MODELS}/${name}`, to, { recursive: true });
    return to;
  };

  it('names the missing files', async () => {
    const m = copy('tiny-gpt2');
    rmSync(join(m, 'tokenizer.json'));
    rmSync(join(m, 'onnx/model.onnx'));
    // Asked for fp32: both missing files, and the graph the folder does have.
    await expectCode(AtmanModel.load(folderSource(m), backend, { dtype: 'fp32' }), 'MODEL_FILES_MISSING', /tokenizer\.json.*onnx\/model\.onnx.*Its ONNX files: onnx\/model_q4\.onnx/);
    // auto settles for the q4 graph, so only the tokenizer is missing.
    const auto = await expectCode(AtmanModel.load(folderSource(m), backend), 'MODEL_FILES_MISSING', /missing tokenizer\.json/);
    expect(auto).not.toContain('model.onnx');
    rmSync(join(m, 'onnx/model_q4.onnx'));
    await expectCode(AtmanModel.load(folderSource(m), backend), 'MODEL_FILES_MISSING', /tokenizer\.json.*It has no ONNX files at all/);
    await expectCode(AtmanModel.load(folderSource(join(dir, 'nowhere')), backend), 'MODEL_FILES_MISSING');
  });

  it('reports a missing external weights file', async () => {
    const m = copy('tiny-gpt2-external');
    rmSync(join(m, 'onnx/model.onnx_data'));
    await expectCode(AtmanModel.load(folderSource(m), backend), 'MODEL_FILES_MISSING', /model\.onnx_data/);
  });

  it('reports a broken tokenizer', async () => {
    const m = copy('tiny-gpt2');
    writeFileSync(join(m, 'tokenizer.json'), '{"model": ');
    await expectCode(AtmanModel.load(folderSource(m), backend), 'TOKENIZER_FAILED');
    writeFileSync(join(m, 'tokenizer.json'), JSON.stringify({ model: { type: 'NoSuchModel' } }));
    await expectCode(AtmanModel.load(folderSource(m), backend), 'TOKENIZER_FAILED');
  });

  it('refuses a graph with no attention', async () => {
    const m = copy('tiny-gpt2');
    const g = emptyGraph();
    g.inputs.push(makeValueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']));
    g.initializers.push(makeTensor('wte', DataType.FLOAT, [400, 4], new Float32Array(1600)));
    g.nodes.push(makeNode('Gather', ['wte', 'input_ids'], ['logits']));
    g.outputs.push(makeValueInfo('logits', DataType.FLOAT, null));
    writeFileSync(join(m, 'onnx/model.onnx'), encodeModel({ irVersion: 8n, opsets: [{ domain: '', version: 17 }], graph: g, rest: [] }));
    await expectCode(AtmanModel.load(folderSource(m), backend), 'NO_ATTENTION');
  });

  it('refuses a config whose layer count disagrees with the graph', async () => {
    const m = copy('tiny-gpt2');
    const cfg = JSON.parse(readFileSync(join(m, 'config.json'), 'utf8'));
    writeFileSync(join(m, 'config.json'), JSON.stringify({ ...cfg, n_layer: 3 }));
    await expectCode(AtmanModel.load(folderSource(m), backend), 'LAYER_COUNT_MISMATCH');
  });

  it('refuses fp16 where the backend has no fp16 support', async () => {
    const noF16 = { ...backend, supportsFp16: false };
    await expectCode(AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2`), noF16, { dtype: 'fp16' }), 'FP16_UNSUPPORTED', /shader-f16/);
  });
});
