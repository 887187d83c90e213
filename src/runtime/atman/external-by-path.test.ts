// External-data weight files in Node: onnxruntime-node loads them from disk by path, so the engine
// never reads them whole; only the token-embedding table's own bytes are read, for conceptual
// suppression. The scores equal those of the same model with its weights read into memory and
// those of the same weights stored inside the graph file.
import { describe, expect, it } from 'vitest';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { folderSource } from '../sources/folder-source';
import type { ModelSource } from '../sources/model-source';
import { createNodeBackend } from '../backends/node-backend';
import type { Explanation } from '../schema';

const backend = createNodeBackend();
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat.';
const TARGET = ' The cat';
const DATA_FILE = 'onnx/model.onnx_data';

/** The folder, recording every whole-file read and every range read. */
function recorded(dir: string): { source: ModelSource; reads: string[]; ranges: Array<{ path: string; length: number }> } {
  const inner = folderSource(dir);
  const reads: string[] = [];
  const ranges: Array<{ path: string; length: number }> = [];
  const source: ModelSource = {
    ...inner,
    read: (path, onProgress) => {
      reads.push(path);
      return inner.read(path, onProgress);
    },
    readRange: (path, offset, length) => {
      ranges.push({ path, length });
      return inner.readRange!(path, offset, length);
    },
  };
  return { source, reads, ranges };
}

/** The same folder as a source that cannot name paths on disk: every file is read into memory. */
function inMemory(dir: string): ModelSource {
  const { localPath: _, sizeOf: __, readRange: ___, ...rest } = folderSource(dir);
  return rest;
}

const worst = (a: Explanation, b: Explanation): number =>
  Math.max(...a.units.flatMap((u, i) => u.perTarget.map((r, t) => Math.abs(r - b.units[i]!.perTarget[t]!))));

async function explained(source: ModelSource, kappa: number | null): Promise<Explanation> {
  const model = await AtmanModel.load(source, backend);
  try {
    return await explain(model, { prompt: PROMPT, target: TARGET, settings: { kappa, granularity: { kind: 'token' } } });
  } finally {
    await model.release();
  }
}

describe('external-data weights by path (onnxruntime-node)', () => {
  it('never reads the weight file whole, reads only the embedding table, and scores as in memory and inline', async () => {
    const dir = 'fixtures/models/tiny-gpt2-external';
    const size = (await folderSource(dir).sizeOf!(DATA_FILE)) as number;
    for (const kappa of [0.7, null]) {
      const rec = recorded(dir);
      const byPath = await explained(rec.source, kappa);
      expect(rec.reads).not.toContain(DATA_FILE);
      // The embedding table (vocabulary x hidden floats) is the one range read, a part of the file.
      expect(rec.ranges.every((r) => r.path === DATA_FILE)).toBe(true);
      const rangeBytes = rec.ranges.reduce((a, r) => a + r.length, 0);
      expect(rangeBytes).toBeGreaterThan(0);
      expect(rangeBytes).toBeLessThan(size / 2);

      const memory = await explained(inMemory(dir), kappa);
      const inline = await explained(folderSource('fixtures/models/tiny-gpt2'), kappa);
      expect(worst(byPath, memory)).toBeLessThanOrEqual(1e-6);
      expect(worst(byPath, inline)).toBeLessThanOrEqual(1e-6);
      expect(Math.max(...byPath.units.map((u) => Math.abs(u.score)))).toBeGreaterThan(1e-4);
      // Conceptual suppression read the table: the dragged-along factors are those of the in-memory load.
      expect(byPath.units.map((u) => u.factors)).toEqual(memory.units.map((u) => u.factors));
    }
  });

  it('a weight file cut short is still refused before any session, from its size on disk', async () => {
    const { mkdtempSync, cpSync, truncateSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'atman-ext-'));
    try {
      cpSync('fixtures/models/tiny-gpt2-external', dir, { recursive: true });
      truncateSync(join(dir, DATA_FILE), 100_000);
      const rec = recorded(dir);
      await expect(AtmanModel.load(rec.source, backend)).rejects.toMatchObject({ code: 'MODEL_INVALID' });
      expect(rec.reads).not.toContain(DATA_FILE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
