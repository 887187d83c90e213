import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { TARGET_IDS_INPUT, TARGET_LOGPROBS_OUTPUT, TARGET_POSITIONS_INPUT, appendTargetScoring } from './append-target-scoring';
import { decodeModel, encodeModel } from './ir/onnx-ir';

const S = 6;
const IDS = [3, 17, 42, 5, 17, 9];

function feeds(names: readonly string[], extra: Record<string, ort.Tensor> = {}): Record<string, ort.Tensor> {
  const f: Record<string, ort.Tensor> = { ...extra };
  const row = (g: (i: number) => number) => new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(g(i))), [1, S]);
  for (const n of names) {
    if (n === 'input_ids') f[n] = row((i) => IDS[i]!);
    else if (n === 'attention_mask') f[n] = row(() => 1);
    else if (n === 'position_ids') f[n] = row((i) => i);
    else if (n === 'use_cache_branch') f[n] = new ort.Tensor('bool', [false], [1]);
    else if (n.startsWith('past_key_values')) f[n] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 8]);
  }
  return f;
}

describe('appendTargetScoring', () => {
  const cases: Array<[string, string, 'lm-head input' | 'logits']> = [
    ['tiny-gpt2', 'fixtures/models/tiny-gpt2/onnx/model.onnx', 'lm-head input'],
    ['tiny-gpt2 q4 (MatMulNBits head)', 'fixtures/models/tiny-gpt2/onnx/model_q4.onnx', 'lm-head input'],
    ['tiny-llama', 'fixtures/models/tiny-llama/onnx/model.onnx', 'lm-head input'],
    ['torch merged decoder (logits from an If)', '../shared/fixtures/torch-export/tiny_merged.onnx', 'logits'],
  ];
  for (const [name, file, where] of cases) {
    it(`${name}: target log-probabilities and row logits equal the full model's`, async () => {
      const bytes = new Uint8Array(readFileSync(file));
      const plain = await ort.InferenceSession.create(bytes);
      const full = (await plain.run(feeds(plain.inputNames))).logits!;
      const V = full.dims[2]!;
      const m = decodeModel(bytes);
      const report = appendTargetScoring(m);
      expect(report.rowsPickedAt).toBe(where);
      const s = await ort.InferenceSession.create(encodeModel(m));
      const rows = [1, 3, 5];
      const targets = [42, 5, 0];
      const out = await s.run(
        feeds(s.inputNames, {
          [TARGET_POSITIONS_INPUT]: new ort.Tensor('int64', BigInt64Array.from(rows, BigInt), [3]),
          [TARGET_IDS_INPUT]: new ort.Tensor('int64', BigInt64Array.from(targets, BigInt), [3]),
        }),
        [TARGET_LOGPROBS_OUTPUT, 'logits'],
      );
      const lp = out[TARGET_LOGPROBS_OUTPUT]!;
      const logits = out.logits!;
      expect(lp.dims).toEqual([1, 3]);
      expect(logits.dims).toEqual([1, 3, V]);
      const f = full.data as Float32Array;
      rows.forEach((r, k) => {
        const row = f.subarray(r * V, (r + 1) * V);
        const max = Math.max(...row);
        const lse = Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) + max;
        expect(Math.abs((lp.data as Float32Array)[k]! - (row[targets[k]!]! - lse))).toBeLessThan(1e-5);
        for (let v = 0; v < V; v++) expect(Math.abs((logits.data as Float32Array)[k * V + v]! - row[v]!)).toBeLessThan(1e-5);
      });
    });
  }
});
