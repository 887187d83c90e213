import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, tensorPayload } from './onnx-ir';
import { referenceWeightsInFile } from './weights-by-reference';

const FILE = 'fixtures/models/tiny-gpt2/onnx/model.onnx';

describe('referenceWeightsInFile', () => {
  it('points large initializers at their bytes in the original file: a small graph, the same logits', async () => {
    const bytes = new Uint8Array(readFileSync(FILE));
    const m = decodeModel(bytes);
    const report = referenceWeightsInFile(m, bytes, 'original.onnx', 1024);
    expect(report.tensors).toBeGreaterThan(0);
    expect(m.graph.initializers.some((t) => tensorPayload(t).external?.location === 'original.onnx')).toBe(true);
    const small = encodeModel(m);
    expect(small.length).toBeLessThan(bytes.length - report.bytes + 64 * 1024);

    const dir = mkdtempSync(join(tmpdir(), 'atman-weights-'));
    try {
      writeFileSync(join(dir, 'model.onnx'), small);
      copyFileSync(FILE, join(dir, 'original.onnx'));
      const ids = new ort.Tensor('int64', BigInt64Array.from([3n, 17n, 42n, 5n]), [1, 4]);
      const feeds = (s: ort.InferenceSession) => Object.fromEntries(s.inputNames.map((n) => [n, n === 'input_ids' ? ids : new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n]), [1, 4])]));
      const byRef = await ort.InferenceSession.create(join(dir, 'model.onnx'));
      const inline = await ort.InferenceSession.create(bytes);
      const a = (await byRef.run(feeds(byRef))).logits!.data as Float32Array;
      const b = (await inline.run(feeds(inline))).logits!.data as Float32Array;
      expect(Array.from(a)).toEqual(Array.from(b));
      await Promise.all([byRef.release(), inline.release()]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves initializers that are not views into the file inline', () => {
    const bytes = new Uint8Array(readFileSync(FILE));
    const m = decodeModel(bytes.slice());
    expect(referenceWeightsInFile(m, bytes, 'original.onnx', 1024)).toEqual({ tensors: 0, bytes: 0 });
  });
});
