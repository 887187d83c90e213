// Prefix reuse and the score head are exact: the same scores as full
// recomputation with full logits read back, on every fixture.
import { afterAll, describe, expect, it } from 'vitest';
import { groupByStart } from '../../core/plan';
import type { ControlMode, ExplainSettings } from '../../core/types';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { type Explanation } from '../schema';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';

const backend = createNodeBackend();
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat and sat down.';
const TARGET = ' The dog sat';

const FIXTURES: Array<{ name: string; dtype?: 'q4'; modes: ControlMode[]; cache: boolean }> = [
  { name: 'tiny-gpt2', modes: ['multiplicative', 'log-additive'], cache: false },
  { name: 'tiny-gpt2', dtype: 'q4', modes: ['multiplicative'], cache: false },
  { name: 'tiny-gpt2-external', modes: ['log-additive'], cache: false },
  { name: 'tiny-gpt2-kv', modes: ['multiplicative', 'log-additive'], cache: true },
  { name: 'tiny-llama', modes: ['multiplicative', 'log-additive'], cache: true },
  { name: 'tiny-llama-sdpa', modes: ['multiplicative'], cache: false },
  { name: 'tiny-llama-gqa', modes: ['multiplicative', 'log-additive'], cache: true },
];

const maxDiff = (a: Explanation, b: Explanation): number =>
  Math.max(...a.units.flatMap((u, i) => u.perTarget.map((r, t) => Math.abs(r - b.units[i]!.perTarget[t]!))));

const models: AtmanModel[] = [];
afterAll(async () => Promise.all(models.map((m) => m.release())));

describe('prefix reuse and the score head give the scores of full recomputation (within 1e-5)', () => {
  for (const f of FIXTURES) {
    for (const mode of f.modes) {
      const settingsList: Array<Partial<ExplainSettings>> = [
        { mode },
        { mode, kappa: null, targetGranularity: 'token' },
        { mode, granularity: { kind: 'sentence' }, factor: 0 },
      ];
      it(`${f.name}${f.dtype ? ` ${f.dtype}` : ''} ${mode}`, async () => {
        const model = await AtmanModel.load(folderSource(`fixtures/models/${f.name}`), backend, { mode, ...(f.dtype ? { dtype: f.dtype } : {}) });
        models.push(model);
        for (const settings of settingsList) {
          const base = { prompt: PROMPT, target: TARGET, settings, batchSize: 4 };
          const naive = await explain(model, { ...base, prefixReuse: false, scoreHead: false });
          const head = await explain(model, { ...base, prefixReuse: false, scoreHead: true });
          const both = await explain(model, { ...base, prefixReuse: true, scoreHead: true });
          const prefixOnly = await explain(model, { ...base, prefixReuse: true, scoreHead: false });
          expect(naive.run).toMatchObject({ scoreHead: false, prefixReuse: 'off' });
          expect(maxDiff(head, naive)).toBeLessThan(1e-5);
          expect(maxDiff(both, naive)).toBeLessThan(1e-5);
          expect(maxDiff(prefixOnly, naive)).toBeLessThan(1e-5);
          expect(naive.units.some((u) => u.perTarget.some((r) => Math.abs(r) > 1e-3))).toBe(true);
          if (f.cache && both.run.prefixReuse.startsWith('not used: GroupQueryAttention')) {
            expect(both.run.rowsComputed).toBe(both.run.rowsFullRecompute);
          } else if (f.cache) {
            expect(both.run.prefixReuse).toBe('used');
            // Each batch of units (sorted by first changed column) starts at its earliest column.
            const S = both.tokens.length - 1;
            const starts = both.units.map((u) => Math.min(...u.factors.map(([p]) => p))).sort((a, b) => a - b);
            let rows = S;
            for (const [from, to] of groupByStart(starts, S, both.run.batchSize, S / 4)) rows += (to - from) * (S - starts[from]!);
            if (both.run.notes.length === 0) expect(both.run.rowsComputed).toBe(rows);
            if (settings.kappa === null) expect(both.run.rowsComputed).toBeLessThan(0.75 * both.run.rowsFullRecompute);
          } else {
            expect(both.run.prefixReuse).toMatch(/^unavailable/);
            expect(both.run.rowsComputed).toBe(both.run.rowsFullRecompute);
          }
        }
      });
    }
  }

  it('on the fused path, runs GroupQueryAttention prefix passes one at a time, or batched without prefix when that is cheaper, and says which', async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-llama-gqa'), backend, { mode: 'log-additive', attention: 'fused' });
    models.push(model);
    const settings = { mode: 'log-additive' as const, kappa: null };
    // Cheap runs: one pass per unit from its own start beats a few full-length batches.
    const single = await explain(model, { prompt: PROMPT, target: TARGET, settings, batchSize: 4, overheadRows: 0 });
    expect(single.run.notes.join(' ')).toMatch(/GroupQueryAttention takes a cached prefix only at batch 1/);
    expect(single.run.batchSize).toBe(1);
    expect(single.run.prefixReuse).toBe('used');
    // Expensive runs: batching wins, the whole sequence is recomputed.
    const batched = await explain(model, { prompt: PROMPT, target: TARGET, settings, batchSize: 4, overheadRows: 1000 });
    expect(batched.run.prefixReuse).toMatch(/^not used: GroupQueryAttention/);
    expect(batched.run.batchSize).toBe(4);
    expect(maxDiff(single, batched)).toBeLessThan(1e-5);
  });
});

describe('out of memory', () => {
  it('halves the batch and continues, with the same scores, and says so', async () => {
    // A real session whose runs fail like a device out of memory above batch 2.
    const limited = {
      ...backend,
      async createSession(model: Uint8Array, external: Parameters<typeof backend.createSession>[1]) {
        const s = await backend.createSession(model, external);
        const run = s.run.bind(s);
        s.run = (async (feeds: Parameters<typeof s.run>[0], ...rest: unknown[]) => {
          if (feeds.input_ids!.dims[0]! > 2) throw new Error('WebGPU: out of memory allocating a buffer');
          return (run as (...a: unknown[]) => ReturnType<typeof s.run>)(feeds, ...rest);
        }) as typeof s.run;
        return s;
      },
    };
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), limited);
    const ref = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), backend);
    models.push(model, ref);
    const x = await explain(model, { prompt: PROMPT, target: TARGET, batchSize: 8 });
    const y = await explain(ref, { prompt: PROMPT, target: TARGET, batchSize: 8 });
    expect(x.run.batchSize).toBe(2);
    expect(x.run.notes.join(' ')).toMatch(/out of memory at batch 8: continued at batch 4/);
    expect(maxDiff(x, y)).toBeLessThan(1e-6);
  });
});
