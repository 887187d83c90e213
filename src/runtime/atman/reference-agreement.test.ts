// AtMan scores from the engine (rewritten ONNX graph, batched onnxruntime runs,
// core scoring) against a plain float64 forward pass with the manipulation
// written out, and factors derived here from docs/method.md on their own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlMode } from '../../core/types';
import { loadGpt2Fixture, referenceLogits } from '../../testing/reference-gpt2';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';

const DIR = 'fixtures/models/tiny-gpt2';
const PROMPT = 'The cat sat on the mat. The cat ran.';
const TARGET = ' The mat';

function crossEntropies(logits: Float32Array, vocab: number, promptLen: number, targetIds: number[]): number[] {
  return targetIds.map((id, t) => {
    const row = logits.subarray((promptLen - 1 + t) * vocab, (promptLen + t) * vocab);
    const max = Math.max(...row);
    const lse = Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) + max;
    return lse - row[id]!;
  });
}

function cosine(a: Float64Array, b: Float64Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

// tiny-gpt2-kv has the same weights with a key/value cache, so the engine runs it with prefix reuse.
describe.each(['tiny-gpt2', 'tiny-gpt2-kv'])('%s: engine scores equal the independent reference implementation (within 1e-4)', (name) => {
  const weights = loadGpt2Fixture(DIR);
  const wte = weights.tensors.get('transformer.wte.weight')!;
  const row = (id: number) => wte.subarray(id * weights.nEmbd, (id + 1) * weights.nEmbd);
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(`fixtures/models/${name}`), createNodeBackend());
  });
  afterAll(() => model.release());

  const cases: Array<{ mode: ControlMode; kappa: number | null; factor: number; layers: number[] | null }> = [
    { mode: 'multiplicative', kappa: null, factor: 0.1, layers: null },
    { mode: 'multiplicative', kappa: 0.7, factor: 0.1, layers: null },
    { mode: 'multiplicative', kappa: null, factor: 0, layers: [1] },
    { mode: 'multiplicative', kappa: null, factor: 2, layers: null },
    { mode: 'log-additive', kappa: null, factor: 0.1, layers: null },
    { mode: 'log-additive', kappa: 0.7, factor: 0, layers: null },
  ];
  for (const c of cases) {
    it(`${c.mode}, factor ${c.factor}, kappa ${c.kappa ?? 'off'}, layers ${c.layers ?? 'all'}`, async () => {
      const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: c, batchSize: 5 });
      expect(x.run.prefixReuse).toBe(name === 'tiny-gpt2-kv' ? 'used' : 'unavailable: the graph takes no key/value cache (past_key_values)');
      const P = x.tokens.filter((t) => t.role === 'prompt').length;
      const ids = x.tokens.map((t) => t.id);
      const S = ids.length - 1;
      const seq = ids.slice(0, S);
      const targetIds = ids.slice(P);
      const ce0 = crossEntropies(referenceLogits(weights, seq, null, c.mode), weights.vocab, P, targetIds);
      x.baseline.crossEntropy.forEach((v, t) => expect(Math.abs(v - ce0[t]!)).toBeLessThan(1e-4));
      x.units.forEach((u) => {
        // docs/method.md "Conceptual suppression", written out: seeds get f, look-alikes 1 - cos(1-f), the strongest wins.
        const phi = new Float32Array(S).fill(1);
        for (const p of u.positions) {
          for (let k = 0; k < S; k++) {
            const cos = k === p ? 1 : cosine(row(seq[p]!), row(seq[k]!));
            const f = k === p ? c.factor : c.kappa !== null && cos >= c.kappa ? 1 - cos * (1 - c.factor) : 1;
            if (Math.abs(1 - f) > Math.abs(1 - phi[k]!)) phi[k] = f;
          }
        }
        const ce = crossEntropies(referenceLogits(weights, seq, phi, c.mode, c.layers ?? undefined), weights.vocab, P, targetIds);
        u.perTarget.forEach((r, t) => expect(Math.abs(r - (ce[t]! - ce0[t]!))).toBeLessThan(1e-4));
      });
      expect(x.units.some((u) => Math.abs(u.score) > 1e-2)).toBe(true);
    });
  }
});
