// In the browser (onnxruntime-web) a loaded model lets the graph file's bytes go before its session
// is created where the source reads files again cheaply (Cache Storage, picked files, a folder), so
// the tab never holds the file, its rewritten copy and onnxruntime's copy at once. Later passes over
// the graph read the file again. Run here with onnxruntime-web's WASM backend in Node.
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { folderSource } from '../sources/folder-source';
import type { ModelSource } from '../sources/model-source';
import { createWebBackend } from '../backends/web-backend';
import { createNodeBackend } from '../backends/node-backend';

const web = createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm');
const DIR = 'fixtures/models/tiny-gpt2-kv';
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat.';
const TARGET = ' The cat';

/** The folder as the browser sees a source: no paths on disk; rereadable or not; every read counted. */
function browserLike(rereadable: boolean): { source: ModelSource; reads: () => number } {
  const { localPath: _, sizeOf: __, readRange: ___, rereadable: ____, ...inner } = folderSource(DIR);
  let reads = 0;
  const source: ModelSource = {
    ...inner,
    ...(rereadable ? { rereadable } : {}),
    read: (path, p) => {
      if (path.endsWith('.onnx')) reads++;
      return inner.read(path, p);
    },
  };
  return { source, reads: () => reads };
}

describe('graph bytes in the browser', () => {
  it('a rereadable source: the bytes go at load, later graph passes read the file again, scores unchanged', async () => {
    const again = browserLike(true);
    const kept = browserLike(false);
    const a = await AtmanModel.load(again.source, web, { dtype: 'fp32' });
    const b = await AtmanModel.load(kept.source, web, { dtype: 'fp32' });
    try {
      expect(again.reads()).toBe(1);
      const settings = { granularity: { kind: 'token' as const } };
      const x = await explain(a, { prompt: PROMPT, target: TARGET, settings });
      const y = await explain(b, { prompt: PROMPT, target: TARGET, settings });
      expect(x.units.map((u) => u.score)).toEqual(y.units.map((u) => u.score));
      expect(x.units.map((u) => u.factors)).toEqual(y.units.map((u) => u.factors));
      // Another pass over the graph (the gradient methods, raw attention) reads the file again where
      // the bytes went, and not where they were kept.
      const fromA = await a.original();
      const fromB = await b.original();
      expect(again.reads()).toBe(2);
      expect(kept.reads()).toBe(1);
      expect(fromA.bytes).toEqual(fromB.bytes);
    } finally {
      await a.release();
      await b.release();
    }
  });

  it('weights handed to onnxruntime-web as external data, beside a model\'s own external-data file: the scores of onnxruntime-node', async () => {
    const dir = 'fixtures/models/tiny-gpt2-external';
    const settings = { granularity: { kind: 'token' as const } };
    const a = await AtmanModel.load(folderSource(dir), web, { dtype: 'fp32' });
    const b = await AtmanModel.load(folderSource(dir), createNodeBackend(), { dtype: 'fp32' });
    try {
      const x = await explain(a, { prompt: PROMPT, target: TARGET, settings });
      const y = await explain(b, { prompt: PROMPT, target: TARGET, settings });
      expect(x.model.backend).toBe('wasm');
      x.units.forEach((u, i) => expect(Math.abs(u.score - y.units[i]!.score)).toBeLessThanOrEqual(1e-5));
      expect(Math.max(...x.units.map((u) => Math.abs(u.score)))).toBeGreaterThan(1e-4);
    } finally {
      await a.release();
      await b.release();
    }
  });
});
