// deploy/k8s: the Indexed Job and the merge Job parse, agree with each other, and do what the
// README says when their commands run here, with JOB_COMPLETION_INDEX set as the Job sets it.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { DatasetRecord } from './dataset';
import { main as explainMain } from './explain';
import { main as mergeMain } from './merge-results';

interface Container {
  command: string[];
  args: string[];
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface Job {
  kind: string;
  metadata: { name: string };
  spec: {
    completionMode?: string;
    completions?: number;
    parallelism?: number;
    template: { spec: { restartPolicy: string; containers: Container[]; volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }> } };
  };
}

const docs = (file: string): Array<{ kind: string }> =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as { kind: string };
  });
const explainDocs = docs('deploy/k8s/explain-job.yaml');
const job = explainDocs.find((d) => d.kind === 'Job') as unknown as Job;
const merge = docs('deploy/k8s/merge-job.yaml').find((d) => d.kind === 'Job') as unknown as Job;
const argOf = (args: string[], flag: string) => args[args.indexOf(flag) + 1]!;

const dir = mkdtempSync(join(tmpdir(), 'atman-k8s-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('deploy/k8s', () => {
  const explain = job.spec.template.spec.containers[0]!;
  const shards = Number(/^auto\/(\d+)$/.exec(argOf(explain.args, '--shard'))?.[1]);

  it('is an Indexed Job whose pods each take the shard JOB_COMPLETION_INDEX names, writing one file each to a shared volume', () => {
    expect(job.spec.completionMode).toBe('Indexed');
    expect(shards).toBeGreaterThan(1);
    expect(job.spec.completions).toBe(shards);
    expect(job.spec.parallelism).toBeLessThanOrEqual(shards);
    expect(job.spec.template.spec.restartPolicy).toBe('OnFailure');
    expect(explain.command).toEqual(['npm', 'run', 'explain', '--']);
    expect(argOf(explain.args, '--out')).toContain('{shard}');
    const claim = job.spec.template.spec.volumes[0]!.persistentVolumeClaim!.claimName;
    expect(explainDocs.some((d) => d.kind === 'PersistentVolumeClaim' && (d as unknown as { metadata: { name: string } }).metadata.name === claim)).toBe(true);
    expect(merge.spec.template.spec.volumes[0]!.persistentVolumeClaim!.claimName).toBe(claim);
    const mount = explain.volumeMounts[0]!.mountPath;
    for (const flag of ['--model', '--dataset', '--out']) expect(argOf(explain.args, flag).startsWith(`${mount}/`)).toBe(true);
  });

  it('merges exactly the files the shards write, over the same dataset', () => {
    const m = merge.spec.template.spec.containers[0]!;
    expect(m.command).toEqual(['npm', 'run', 'merge-results', '--']);
    expect(argOf(m.args, '--dataset')).toBe(argOf(explain.args, '--dataset'));
    const files = m.args.filter((a, i) => !a.startsWith('--') && !m.args[i - 1]?.startsWith('--'));
    expect(files).toEqual(Array.from({ length: shards }, (_, k) => argOf(explain.args, '--out').replace('{shard}', String(k))));
  });

  it('runs here: each shard with JOB_COMPLETION_INDEX set, then the merge, gives every line exactly once', async () => {
    // The volume is a folder here: the model, the dataset, the results.
    const mount = explain.volumeMounts[0]!.mountPath;
    const local = (args: string[]) => args.map((a) => (a.startsWith(`${mount}/`) ? join(dir, a.slice(mount.length + 1)) : a));
    cpSync('fixtures/models/tiny-gpt2', join(dir, argOf(explain.args, '--model').slice(mount.length + 1)), { recursive: true });
    const lines = ['The cat sat on the mat.', 'A dog ran in the park.', 'Birds sing in the morning.', 'The rain fell all night.', 'She opened the window.'];
    writeFileSync(join(dir, argOf(explain.args, '--dataset').slice(mount.length + 1)), lines.map((p, i) => JSON.stringify({ id: i, prompt: p, target: ' The', granularity: 'word' })).join('\n'));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const before = process.env.JOB_COMPLETION_INDEX;
    try {
      for (let k = 0; k < shards; k++) {
        process.env.JOB_COMPLETION_INDEX = String(k);
        expect(await explainMain(local(explain.args))).toBe(0);
      }
      expect(await mergeMain(local(merge.spec.template.spec.containers[0]!.args))).toBe(0);
    } finally {
      if (before === undefined) delete process.env.JOB_COMPLETION_INDEX;
      else process.env.JOB_COMPLETION_INDEX = before;
      out.mockRestore();
      err.mockRestore();
    }
    const merged = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DatasetRecord);
    expect(merged.map((r) => [r.index, r.id, r.ok])).toEqual(lines.map((_, i) => [i, i, true]));
    for (let k = 0; k < shards; k++) {
      const part = readFileSync(join(dir, 'results', `part-${k}.jsonl`), 'utf8').trim().split('\n').filter(Boolean);
      expect(part.map((l) => (JSON.parse(l) as DatasetRecord).index % shards)).toEqual(part.map(() => k));
    }
  });
});
