// Faithfulness curves on a model built so that they MUST be monotone, with a closed form for every
// point. One attention layer over 3-wide embeddings [1, u, w]: query 1, key u, value w; the target
// token's logit is ALPHA times the attention output, every other logit is 0.
//   - "content" tokens: u = 2, w = 1; the prompt's first token is the "sink": u = 0 (the row
//     minimum), w = 0. The target is one token, so the sequence is the prompt alone.
//   - Suppressing content tokens with factor 0 moves their attention weight to e^0 (multiplicative:
//     the row minimum) or 0 (log-additive), so the output, hence p(target), falls with every unit
//     removed, whatever the ranking: deletion never rises and insertion never falls.
// With a content units suppressed and b kept out of n (sink aside), the output is
//   multiplicative: o = (a e^2 + b) / (a e^2 + b + 1),   log-additive: o = a e^2 / (a e^2 + 1).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlMode } from '../../core/types';
import { DataType, encodeModel } from '../../graph/ir/onnx-ir';
import { emptyGraph, makeNode, makeTensor, makeValueInfo } from '../../graph/ir/onnx-build';
import { AtmanModel } from '../atman/atman-model';
import { measureFaithfulness } from './faithfulness';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';

const ALPHA = 4;
const PROMPT = 'The cat sat on the mat';
const TARGET = ' Paris';

let dir = '';
let model: AtmanModel;
let sinkId = 0;
let targetId = 0;
let vocab = 0;

function buildModel(folder: string): void {
  const config = JSON.parse(readFileSync('fixtures/models/tiny-gpt2/config.json', 'utf8')) as Record<string, unknown>;
  vocab = config.vocab_size as number;
  writeFileSync(join(folder, 'config.json'), JSON.stringify({ ...config, n_layer: 1, n_head: 1, n_embd: 3, use_cache: false }));
  const E = new Float32Array(vocab * 3);
  for (let id = 0; id < vocab; id++) E.set(id === sinkId ? [1, 0, 0] : [1, 2, 1], id * 3);
  const out = new Float32Array(vocab);
  out[targetId] = ALPHA;
  const g = emptyGraph();
  g.inputs.push(makeValueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']));
  g.initializers.push(
    makeTensor('wte', DataType.FLOAT, [vocab, 3], E),
    makeTensor('wq', DataType.FLOAT, [3, 1], Float32Array.from([1, 0, 0])),
    makeTensor('wk', DataType.FLOAT, [3, 1], Float32Array.from([0, 1, 0])),
    makeTensor('wv', DataType.FLOAT, [3, 1], Float32Array.from([0, 0, 1])),
    makeTensor('w_out', DataType.FLOAT, [1, vocab], out),
    makeTensor('head_axis', DataType.INT64, [1], BigInt64Array.from([1n])),
  );
  // One head, as exporters write attention: [batch, heads, rows, keys] scores.
  g.nodes.push(
    makeNode('Gather', ['wte', 'input_ids'], ['x']),
    makeNode('MatMul', ['x', 'wq'], ['q3']),
    makeNode('MatMul', ['x', 'wk'], ['k3']),
    makeNode('MatMul', ['x', 'wv'], ['v3']),
    makeNode('Unsqueeze', ['q3', 'head_axis'], ['q']),
    makeNode('Unsqueeze', ['k3', 'head_axis'], ['k']),
    makeNode('Unsqueeze', ['v3', 'head_axis'], ['v']),
    makeNode('Transpose', ['k'], ['kt'], { perm: [0, 1, 3, 2] }),
    makeNode('MatMul', ['q', 'kt'], ['scores']),
    makeNode('Softmax', ['scores'], ['probs'], { axis: -1 }),
    makeNode('MatMul', ['probs', 'v'], ['o4']),
    makeNode('Squeeze', ['o4', 'head_axis'], ['o']),
    makeNode('MatMul', ['o', 'w_out'], ['logits']),
  );
  g.outputs.push(makeValueInfo('logits', DataType.FLOAT, ['batch_size', 'sequence_length', vocab]));
  writeFileSync(join(folder, 'onnx/model.onnx'), encodeModel({ irVersion: 8n, opsets: [{ domain: '', version: 17 }], graph: g, rest: [] }));
}

/** p(target) in closed form with `a` content tokens kept at full attention and `b` suppressed. */
function closedForm(mode: ControlMode, a: number, b: number): number {
  const e2 = Math.exp(2);
  const o = mode === 'multiplicative' ? (a * e2 + b) / (a * e2 + b + 1) : (a * e2) / (a * e2 + 1);
  const t = Math.exp(ALPHA * o);
  return t / (t + vocab - 1);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atman-constructed-'));
  mkdirSync(join(dir, 'onnx'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) cpSync(join('fixtures/models/tiny-gpt2', f), join(dir, f));
  // Token ids come from the real tokenizer, read through the fixture it belongs to.
  const probe = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), createNodeBackend(), { selfCheck: false });
  const ids = probe.tokenizer.encodePrompt(PROMPT).map((t) => t.id);
  sinkId = ids[0]!;
  targetId = probe.tokenizer.encodeTarget(TARGET).map((t) => t.id)[0]!;
  await probe.release();
  expect(ids.slice(1)).not.toContain(sinkId);
  expect(probe.tokenizer.encodeTarget(TARGET)).toHaveLength(1);
  buildModel(dir);
  model = await AtmanModel.load(folderSource(dir), createNodeBackend());
});

afterAll(async () => {
  await model?.release();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('faithfulness curves on a constructed model', () => {
  for (const mode of ['multiplicative', 'log-additive'] as const) {
    it(`${mode}: every ranking gives a falling deletion curve and a rising insertion curve, equal to the closed form`, async () => {
      const tokens = model.tokenizer.encodePrompt(PROMPT);
      // One unit per content token (the sink is not a unit); the target is one token, so S = P.
      const content = tokens.map((_, p) => p).filter((p) => p > 0);
      const n = content.length;
      const units = content.map((p, i) => ({ label: tokens[p]!.text, positions: [p], score: i }));
      const rankings = [
        content.map((_, i) => i),
        content.map((_, i) => n - 1 - i),
        [1, 3, 0, 2].filter((i) => i < n).concat(content.map((_, i) => i).filter((i) => i >= 4)),
      ];
      for (const ranking of rankings) {
        const f = await measureFaithfulness(model, { prompt: PROMPT, target: TARGET, units, settings: { mode } }, { ranking, randomRuns: 0 });
        for (let k = 1; k < f.deletion.length; k++) {
          expect(f.deletion[k]!).toBeLessThanOrEqual(f.deletion[k - 1]! + 1e-7);
          expect(f.insertion[k]!).toBeGreaterThanOrEqual(f.insertion[k - 1]! - 1e-7);
        }
        f.ks.forEach((k, i) => {
          expect(f.deletion[i]!).toBeCloseTo(closedForm(mode, n - k, k), 5);
          expect(f.insertion[i]!).toBeCloseTo(closedForm(mode, k, n - k), 5);
        });
        // the ends: nothing removed is the unperturbed probability; everything removed is the floor
        expect(f.deletion[0]).toBeCloseTo(f.baseline.probability, 6);
        expect(f.deletion.at(-1)!).toBeLessThan(f.deletion[0]!);
      }
    });
  }
});
