// The onnxruntime-genai builder layout (fused GroupQueryAttention with rotary inside) explained by
// the engine equals an independent float64 implementation of the same architecture.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlMode } from '../../core/types';
import { loadQwen2BuilderReference, qwen2BuilderLogits } from '../../testing/reference-qwen2-builder';
import { crossEntropies } from '../../testing/reference-vlm';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';

const DIR = 'fixtures/models/tiny-qwen2-builder';
const PROMPT = 'The cat sat on the mat. The dog ran.';
const TARGET = ' The cat';
const backend = createNodeBackend();

const MODES: ControlMode[] = ['multiplicative', 'log-additive'];

describe.each(MODES)('tiny-qwen2-builder, %s: engine scores equal the float64 reference', (mode) => {
  const ref = loadQwen2BuilderReference(DIR);
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(DIR), backend, { mode });
  });
  afterAll(() => model.release());

  it.each([0, 0.1, 2])('factor %s, token units, kappa off', async (factor) => {
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { mode, factor, kappa: null } });
    const ids = x.tokens.map((t) => t.id).slice(0, -1);
    const P = x.tokens.filter((t) => t.role === 'prompt').length;
    const targetIds = x.tokens.filter((t) => t.role === 'target').map((t) => t.id);
    const rows = targetIds.map((_, t) => P - 1 + t);
    const ce = (phi: number[] | null) => crossEntropies(qwen2BuilderLogits(ref, ids, phi, mode), ref.vocab, rows, targetIds);
    const ce0 = ce(null);
    let worst = 0;
    let largest = 0;
    for (const u of x.units) {
      const phi = ids.map((_, k) => (u.positions.includes(k) ? factor : 1));
      const expected = ce(phi).reduce((a, c, t) => a + c - ce0[t]!, 0);
      worst = Math.max(worst, Math.abs(u.score - expected));
      largest = Math.max(largest, Math.abs(expected));
    }
    expect(largest).toBeGreaterThan(1e-3);
    expect(worst).toBeLessThanOrEqual(1e-5 * Math.max(1, largest));
  });
});
