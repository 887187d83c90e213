// npm run explain -- --dataset: a real run on a fixture model, a run killed halfway and restarted,
// two shards merged, and the CUDA backend's error where its provider is not installed.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isAtmanError } from '../core/errors';
import { createNodeBackend, cudaProviderPath } from '../runtime/backends/node-backend';
import { type DatasetRecord, parseShard, resumeResults } from './dataset';
import { main } from './explain';
import { mergeResults } from './merge-results';

const dir = mkdtempSync(join(tmpdir(), 'atman-dataset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MODEL = 'fixtures/models/tiny-gpt2';
// Seven lines: six cases (one of them malformed) and a blank line, which is not a case.
const CASES = [
  { id: 'a', prompt: 'The cat sat on the mat.', target: ' The cat' },
  { prompt: 'A dog ran in the park and the sun was warm on the grass near the old tree by the river.', target: ' The dog', granularity: 'token' },
  null,
  { id: 7, prompt: 'Birds sing in the morning when the light comes over the hills.', target: ' Birds', units: 'word' },
  '{"prompt": "cut short',
  { id: 'e', prompt: 'The rain fell all night on the small town, and the streets were wet by morning.', target: ' The rain', granularity: 'token' },
  { id: 'f', prompt: 'She opened the window and the cold air came into the room.', target: ' She' },
];
const dataset = join(dir, 'cases.jsonl');
writeFileSync(dataset, `${CASES.map((c) => (c === null ? '' : typeof c === 'string' ? c : JSON.stringify(c))).join('\n')}\n`);
const CASE_INDICES = [0, 1, 3, 4, 5, 6];

const records = (file: string): DatasetRecord[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DatasetRecord);
const quiet = () => {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return () => (out.mockRestore(), err.mockRestore());
};
const scoresOf = (r: DatasetRecord) => (r.ok ? (r.explanation as { units: Array<{ score: number }> }).units.map((u) => u.score) : r.error.code);

let full: DatasetRecord[] = [];

describe('npm run explain -- --dataset', () => {
  it('explains every case once with one loaded model, and turns a malformed line into an error record naming it', async () => {
    const out = join(dir, 'full.jsonl');
    const restore = quiet();
    const code = await main(['--model', MODEL, '--dataset', dataset, '--out', out, '--kappa', 'off']);
    restore();
    expect(code).toBe(0);
    full = records(out);
    expect(full.map((r) => r.index)).toEqual(CASE_INDICES);
    expect(full.map((r) => r.line)).toEqual(CASE_INDICES.map((i) => i + 1));
    const bad = full.find((r) => r.index === 4)!;
    expect(bad).toMatchObject({ ok: false, error: { code: 'DATASET_LINE_INVALID' } });
    expect(bad.ok || bad.error.message).toMatch(/^Line 5 of the dataset is not valid JSON/);
    const ok = full.filter((r): r is Extract<DatasetRecord, { ok: true }> => r.ok);
    expect(ok.map((r) => r.id)).toEqual(['a', undefined, 7, 'e', 'f']);
    const x = ok.map((r) => r.explanation as { units: Array<{ label: string }>; settings: { granularity: { kind: string } }; run: { memory: { batchSize: number } } });
    expect(x.map((e) => e.settings.granularity.kind)).toEqual(['token', 'token', 'word', 'token', 'token']);
    expect(x[2]!.units.map((u) => u.label)).toContain('Birds');
    for (const e of x) expect(e.run.memory.batchSize).toBeGreaterThan(0);
  });

  it('resumes a run killed after its first line without redoing any line, discarding a half-written last line', async () => {
    const out = join(dir, 'killed.jsonl');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/explain.ts', '--model', MODEL, '--dataset', dataset, '--out', out, '--kappa', 'off'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const deadline = Date.now() + 50_000;
    while (!(existsSync(out) && readFileSync(out, 'utf8').includes('\n')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
    const before = records(out);
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(CASE_INDICES.length);
    // What a crash in the middle of writing a record leaves behind.
    appendFileSync(out, '{"index":6,"line":7,"id":"f","ok":tr');
    const restore = quiet();
    const code = await main(['--model', MODEL, '--dataset', dataset, '--out', out, '--kappa', 'off']);
    restore();
    expect(code).toBe(0);
    const after = records(out);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.map((r) => r.index).sort((a, b) => a - b)).toEqual(CASE_INDICES);
    for (const r of after) expect(scoresOf(r)).toEqual(scoresOf(full.find((f) => f.index === r.index)!));
  });

  it('splits the lines between two shards (line i to shard i mod 2), and merging yields the full set', async () => {
    const restore = quiet();
    for (const k of [0, 1]) expect(await main(['--model', MODEL, '--dataset', dataset, '--out', join(dir, 'part-{shard}.jsonl'), '--shard', `${k}/2`, '--kappa', 'off'])).toBe(0);
    restore();
    const parts = [0, 1].map((k) => records(join(dir, `part-${k}.jsonl`)));
    expect(parts[0]!.map((r) => r.index)).toEqual([0, 4, 6]);
    expect(parts[1]!.map((r) => r.index)).toEqual([1, 3, 5]);
    const merged = join(dir, 'merged.jsonl');
    const s = mergeResults([0, 1].map((k) => join(dir, `part-${k}.jsonl`)), merged, dataset);
    expect(s).toEqual({ records: 6, duplicates: 0, missing: [] });
    expect(records(merged).map((r) => [r.index, scoresOf(r)])).toEqual(full.map((r) => [r.index, scoresOf(r)]));
    // A shard's file missing: merge names the lines without a result.
    expect(mergeResults([join(dir, 'part-0.jsonl')], join(dir, 'half.jsonl'), dataset).missing).toEqual([2, 4, 6]);
  });

  it('refuses bad --shard values and dataset flags with typed errors', async () => {
    expect(parseShard('1/3')).toEqual({ index: 1, count: 3 });
    expect(parseShard('auto/4', { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 2, count: 4 });
    for (const [text, env, msg] of [
      ['3/3', {}, /runs from 0 to 2/],
      ['1/0', {}, /takes K\/N/],
      ['x', {}, /takes K\/N/],
      ['-1/2', {}, /takes K\/N/],
      ['auto/2', {}, /JOB_COMPLETION_INDEX, which is not set/],
      ['auto/2', { JOB_COMPLETION_INDEX: '5' }, /runs from 0 to 1/],
    ] as const) expect(() => parseShard(text, env)).toThrow(msg);
    await expect(main(['--model', MODEL, '--dataset', dataset])).rejects.toThrow(/--dataset needs --out/);
    await expect(main(['--model', MODEL, '--dataset', join(dir, 'none.jsonl'), '--out', 'x.jsonl'])).rejects.toThrow(/Cannot read the dataset .*none\.jsonl: no such file/);
    await expect(main(['--model', MODEL, '--dataset', dataset, '--out', 'x.jsonl', '--prompt', 'p'])).rejects.toThrow(/leave out --prompt/);
    await expect(main(['--model', MODEL, '--prompt', 'p', '--target', 't', '--shard', '0/2'])).rejects.toThrow(/give --dataset/);
    await expect(main(['--model', MODEL, '--prompt', 'p', '--target', 't', '--memory-budget', 'lots'])).rejects.toThrow(/512MiB, 2GB/);
  });

  it('refuses a results file damaged before its last line, and cuts a damaged last line off', () => {
    const rec = (i: number) => `{"index":${i},"line":${i + 1},"ok":false,"error":{"code":"X","message":"m"}}\n`;
    const cut = join(dir, 'cut.jsonl');
    writeFileSync(cut, `${rec(0)}${rec(2)}{"index":3,"li\n`);
    expect([...resumeResults(cut)]).toEqual([0, 2]);
    expect(readFileSync(cut, 'utf8')).toBe(`${rec(0)}${rec(2)}`);
    writeFileSync(cut, `${rec(0)}${rec(2)}`.slice(0, -1));
    expect([...resumeResults(cut)]).toEqual([0]);
    expect(readFileSync(cut, 'utf8')).toBe(rec(0));
    const out = join(dir, 'damaged.jsonl');
    writeFileSync(out, '{"index":0,"line":1,"ok":false,"error":{"code":"X","message":"m"}}\nnot json\n{"index":1,"line":2,"ok":false,"error":{"code":"X","message":"m"}}\n');
    let err: unknown;
    try {
      resumeResults(out);
    } catch (e) {
      err = e;
    }
    expect(isAtmanError(err, 'DATASET_RESULTS_DAMAGED')).toBe(true);
  });
});

describe('--backend cuda', () => {
  it.skipIf(cudaProviderPath() !== null)('fails with a typed error that says how to install the CUDA provider, where it is not installed', async () => {
    let err: unknown;
    try {
      createNodeBackend({ provider: 'cuda' });
    } catch (e) {
      err = e;
    }
    expect(isAtmanError(err, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/CUDA execution provider of onnxruntime-node is not installed.*ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    // The CLI checks before loading anything, and names the flag's values when they are wrong.
    await expect(main(['--model', 'no/such-model', '--prompt', 'p', '--target', 't', '--backend', 'cuda'])).rejects.toThrow(/--backend cuda: the CUDA execution provider/);
    await expect(main(['--model', MODEL, '--prompt', 'p', '--target', 't', '--backend', 'rocm'])).rejects.toThrow(/--backend takes cpu or cuda, not "rocm"/);
  });
});
