// Out of memory in the middle of a run: every batched path (AtMan's passes, occlusion, the
// faithfulness curves) halves its batch through the one BatchBackoff and finishes with the scores
// of an unlimited run. The sessions are real onnxruntime-node sessions; only their backend is
// wrapped so that a batch above a limit fails with the error onnxruntime's CPU arena raises when
// an allocation does not fit (onnxruntime-node offers no setting that caps its memory).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtmanError } from '../../core/errors';
import type { OrtBackend } from '../backends/backend';
import { createNodeBackend } from '../backends/node-backend';
import { explainComparison } from '../compare/comparison-methods';
import { measureFaithfulness } from '../compare/faithfulness';
import { folderSource } from '../sources/folder-source';
import { AtmanModel } from './atman-model';
import { BatchBackoff, isOutOfMemory } from './batch-backoff';
import { explain } from './explain';

const backend = createNodeBackend({ threads: 1 });
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat and sat down.';
const TARGET = ' The dog sat';
const ARENA_ERROR = 'Failed to allocate memory for requested buffer of size 1073741824';

/** The node backend whose sessions fail a run whose batch is above `limit`, as a full arena does. */
function memoryLimited(limit: number, seen: number[]): OrtBackend {
  return {
    ...backend,
    async createSession(bytes, external) {
      const s = await backend.createSession(bytes, external);
      const run = s.run.bind(s) as (...a: unknown[]) => ReturnType<typeof s.run>;
      s.run = ((feeds: Parameters<typeof s.run>[0], ...rest: unknown[]) => {
        const batch = Object.values(feeds)[0]!.dims[0]!;
        seen.push(batch);
        if (batch > limit) return Promise.reject(new Error(ARENA_ERROR));
        return run(feeds, ...rest);
      }) as typeof s.run;
      return s;
    },
  };
}

describe('BatchBackoff', () => {
  it('knows a memory error from other errors', () => {
    expect(isOutOfMemory(new Error(ARENA_ERROR))).toBe(true);
    expect(isOutOfMemory(new Error('std::bad_alloc'))).toBe(true);
    expect(isOutOfMemory(new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'))).toBe(true);
    expect(isOutOfMemory(new Error('GPUOutOfMemoryError: out of memory'))).toBe(true);
    expect(isOutOfMemory(new Error('Invalid input shape'))).toBe(false);
    expect(isOutOfMemory(new AtmanError('CANCELLED', 'Cancelled: out of memory'))).toBe(false);
  });

  it('splits a batch that ran out of memory, keeps the order, and gives up at batch 1', async () => {
    const notes: string[] = [];
    const b = new BatchBackoff(8, (s) => notes.push(s));
    const done: number[] = [];
    await b.each([...Array(10).keys()], async (batch) => {
      if (batch.length > 3) throw new Error(ARENA_ERROR);
      done.push(...batch);
    });
    expect(done).toEqual([...Array(10).keys()]);
    expect(b.size).toBe(2);
    expect(notes).toEqual(['out of memory at batch 8: continued at batch 4', 'out of memory at batch 4: continued at batch 2']);
    await expect(b.each([1, 2], () => Promise.reject(new Error(ARENA_ERROR)))).rejects.toThrow(ARENA_ERROR);
    await expect(new BatchBackoff(4, () => {}).each([1, 2, 3], () => Promise.reject(new Error('Invalid input shape')))).rejects.toThrow('Invalid input shape');
  });
});

describe('out of memory in a run: smaller batches, the same numbers', () => {
  const seen: number[] = [];
  let limited: AtmanModel;
  let ref: AtmanModel;
  beforeAll(async () => {
    limited = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), memoryLimited(2, seen), { selfCheck: false });
    ref = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), backend, { selfCheck: false });
  });
  afterAll(async () => Promise.all([limited.release(), ref.release()]));

  it('occlusion by deletion and by masking', async () => {
    for (const method of ['occlusion-delete', 'occlusion-mask'] as const) {
      seen.length = 0;
      const req = { prompt: PROMPT, target: TARGET, method, batchSize: 8 };
      const x = await explainComparison(limited, req);
      const y = await explainComparison(ref, req);
      expect(seen.some((b) => b > 2)).toBe(true);
      expect(x.run.notes).toContain('out of memory at batch 8: continued at batch 4');
      expect(x.run.batchSize).toBe(2);
      expect(x.batchSize).toBe(2);
      x.units.forEach((u, i) => u.perTarget.forEach((r, t) => expect(r).toBeCloseTo(y.units[i]!.perTarget[t]!, 6)));
    }
  });

  it('faithfulness curves', async () => {
    const x = await explain(ref, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' } } });
    seen.length = 0;
    const a = await measureFaithfulness(limited, x, { batchSize: 8, randomRuns: 1 });
    const b = await measureFaithfulness(ref, x, { batchSize: 8, randomRuns: 1 });
    expect(seen.some((n) => n > 2)).toBe(true);
    expect(a.run.notes).toContain('out of memory at batch 8: continued at batch 4');
    expect(a.run.batchSize).toBe(2);
    a.deletion.forEach((p, k) => expect(p).toBeCloseTo(b.deletion[k]!, 6));
    a.insertion.forEach((p, k) => expect(p).toBeCloseTo(b.insertion[k]!, 6));
  });

  it('an error that is not about memory still fails the run at once', async () => {
    const broken: OrtBackend = {
      ...backend,
      async createSession(bytes, external) {
        const s = await backend.createSession(bytes, external);
        s.run = (() => Promise.reject(new Error('Invalid rank for input: input_ids'))) as typeof s.run;
        return s;
      },
    };
    const m = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), broken, { selfCheck: false });
    try {
      await expect(explainComparison(m, { prompt: PROMPT, target: TARGET, method: 'occlusion-delete', batchSize: 8 })).rejects.toThrow(/Invalid rank/);
    } finally {
      await m.release();
    }
  });
});
