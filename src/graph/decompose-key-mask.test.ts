// decomposeFusedAttention's keyMask option: GroupQueryAttention reads only lengths from the mask,
// so a 0 inside a row is ignored by the fused op; the rewrite with keyMask hides that key column
// and is otherwise the fused op's arithmetic.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decomposeFusedAttention } from './fused/decompose-fused-attention';
import { decodeModel, encodeModel } from './ir/onnx-ir';

const FILE = 'fixtures/models/tiny-qwen2-builder/onnx/model.onnx';
const IDS = [40, 90, 250, 3, 17, 300, 120];

async function logits(bytes: Uint8Array, ids: number[], mask: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a, BigInt), [1, a.length]);
    const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids), attention_mask: i64(mask) };
    for (const n of s.inputNames) if (n.startsWith('past_key_values.')) feeds[n] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
    return (await s.run(feeds, ['logits'])).logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array, from = 0, to = a.length) => {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('decomposeFusedAttention with keyMask on the builder-layout GroupQueryAttention', () => {
  const original = new Uint8Array(readFileSync(FILE));
  const model = decodeModel(original);
  const report = decomposeFusedAttention(model, { keyMask: 'attention_mask' });
  const masked = encodeModel(model);

  it('says so in the report', () => {
    expect(report.nodes).toHaveLength(2);
    expect(report.nodes.every((n) => /hidden where attention_mask is 0/.test(n.variant))).toBe(true);
  });

  it('equals the fused graph when the mask is all ones', async () => {
    const ones = IDS.map(() => 1);
    expect(maxDiff(await logits(masked, IDS, ones), await logits(original, IDS, ones))).toBeLessThan(1e-5);
  });

  it('hides a masked key column from every later row (the fused op does not)', async () => {
    const mask = IDS.map((_, i) => (i === 1 ? 0 : 1));
    const other = IDS.map((id, i) => (i === 1 ? (id + 1) % 400 : id));
    const a = await logits(masked, IDS, mask);
    const b = await logits(masked, other, mask);
    const vocab = a.length / IDS.length;
    // rows 2.. never see position 1
    expect(maxDiff(a, b, 2 * vocab)).toBeLessThan(1e-5);
    // and differ from the unmasked pass
    expect(maxDiff(a, await logits(masked, IDS, IDS.map(() => 1)), 2 * vocab)).toBeGreaterThan(1e-3);
    // the fused op ignores the zero: the token at position 1 still reaches later rows
    const fa = await logits(original, IDS, mask);
    const fb = await logits(original, other, mask);
    expect(maxDiff(fa, fb, 2 * vocab)).toBeGreaterThan(1e-3);
  });
});
