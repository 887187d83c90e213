import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadGpt2Fixture, referenceLogits } from './reference-gpt2';

const dir = resolve(__dirname, '../../fixtures/models/tiny-gpt2');
const weights = loadGpt2Fixture(dir);

async function ortLogits(ids: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(resolve(dir, 'onnx/model.onnx'));
  const S = ids.length;
  const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, S]);
  const out = await session.run({
    input_ids: i64(ids),
    attention_mask: i64(ids.map(() => 1)),
    position_ids: i64(ids.map((_, i) => i)),
  });
  await session.release();
  return out.logits!.data as Float32Array;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('reference GPT-2 forward pass', () => {
  it('reads the fixture', () => {
    expect(weights).toMatchObject({ nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 128 });
  });

  it.each([
    [[296, 314, 315, 308, 294, 316, 13]],
    [[5, 70, 100, 200, 290, 12, 40, 90, 250, 3, 17, 300]],
    [[42]],
  ])('matches onnxruntime logits without manipulation (%j)', async (ids) => {
    const ref = referenceLogits(weights, ids, null, 'multiplicative');
    const got = await ortLogits(ids);
    expect(ref.length).toBe(ids.length * weights.vocab);
    expect(maxDiff(ref, got)).toBeLessThan(1e-4);
  });

  it('factors of 1 change nothing in either mode', () => {
    const ids = [296, 314, 315, 308, 294, 316, 13];
    const base = referenceLogits(weights, ids, null, 'multiplicative');
    const ones = new Float32Array(ids.length).fill(1);
    expect(maxDiff(base, referenceLogits(weights, ids, ones, 'multiplicative'))).toBeLessThan(1e-9);
    expect(maxDiff(base, referenceLogits(weights, ids, ones, 'log-additive'))).toBeLessThan(1e-9);
  });

  it('suppressing column j leaves positions before j alone and moves the rest', () => {
    const ids = [296, 314, 315, 308, 294, 316, 13];
    const V = weights.vocab;
    const base = referenceLogits(weights, ids, null, 'multiplicative');
    for (const mode of ['multiplicative', 'log-additive'] as const) {
      const phi = new Float32Array(ids.length).fill(1);
      phi[3] = mode === 'log-additive' ? 0 : 0.1;
      const got = referenceLogits(weights, ids, phi, mode);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(maxDiff(base.subarray(0, 3 * V), got.subarray(0, 3 * V))).toBeLessThan(1e-9);
      expect(maxDiff(base.subarray(3 * V), got.subarray(3 * V))).toBeGreaterThan(1e-3);
    }
  });

  it('multiplicative mode takes the row minimum over all keys, future ones included', () => {
    // Position 2 of the full sequence versus the same position of the 3-token prefix: the prefix
    // has no future keys, so its minimum is over visible keys only. Without manipulation the two
    // agree (causality); with a non-uniform phi they differ exactly because of the minimum.
    const ids = [296, 314, 315, 308, 294, 316, 13];
    const V = weights.vocab;
    const phi = new Float32Array(ids.length).fill(1);
    phi[1] = 0.1;
    const plainFull = referenceLogits(weights, ids, null, 'multiplicative');
    const plainPrefix = referenceLogits(weights, ids.slice(0, 3), null, 'multiplicative');
    expect(maxDiff(plainFull.subarray(2 * V, 3 * V), plainPrefix.subarray(2 * V, 3 * V))).toBeLessThan(1e-9);
    const full = referenceLogits(weights, ids, phi, 'multiplicative', [0]);
    const prefix = referenceLogits(weights, ids.slice(0, 3), phi.slice(0, 3), 'multiplicative', [0]);
    expect(maxDiff(full.subarray(2 * V, 3 * V), prefix.subarray(2 * V, 3 * V))).toBeGreaterThan(1e-4);
    // log-additive mode has no row statistic, so there the prefix agrees
    const la = referenceLogits(weights, ids, phi, 'log-additive');
    const laPrefix = referenceLogits(weights, ids.slice(0, 3), phi.slice(0, 3), 'log-additive');
    expect(maxDiff(la.subarray(2 * V, 3 * V), laPrefix.subarray(2 * V, 3 * V))).toBeLessThan(1e-9);
  });

  it('restricting to layers changes the result', () => {
    const ids = [296, 314, 315, 308, 294, 316, 13];
    const phi = new Float32Array(ids.length).fill(1);
    phi[2] = 0.1;
    const all = referenceLogits(weights, ids, phi, 'multiplicative');
    const first = referenceLogits(weights, ids, phi, 'multiplicative', [0]);
    const none = referenceLogits(weights, ids, phi, 'multiplicative', []);
    expect(maxDiff(all, first)).toBeGreaterThan(1e-4);
    expect(maxDiff(none, referenceLogits(weights, ids, null, 'multiplicative'))).toBe(0);
  });
});
