// npx tsx scripts/bench-load.ts [-- --layers 12 --lengths 132,1000 --explain --json FILE]
// Load time and peak memory of the engine against plain onnxruntime-node on the same file, each
// measured in a process of its own (a process's peak RSS is the only honest memory number):
//   plain   onnxruntime-node creates one session from the model file and runs one forward pass
//           over the prompt's length (empty key/value cache);
//   atman   AtmanModel.load (rewrite, session, self-check) and one unperturbed pass of the same
//           length through the controlled graph; with --explain, a whole explanation instead
//           (token units at up to 200 tokens, sentence units beyond).
// The model is the bench's GPT-2-small-shaped one with a key/value cache (bench-common.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBenchModel } from './bench-common';

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    dir: { type: 'string' },
    tokens: { type: 'string' },
    layers: { type: 'string', default: '12' },
    lengths: { type: 'string', default: '132,1000' },
    explain: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});

const TEXT =
  'The committee met on Tuesday to review the budget. Several members asked about the new library, which had opened in March. ' +
  'The treasurer said the costs were higher than planned because the roof needed repairs. After a long discussion the members agreed ' +
  'to postpone the vote until the next meeting, when the architect could present a revised estimate for the work on the east wing. ';
const TARGET = ' The vote was postponed again.';

export interface LoadRecord {
  kind: 'plain' | 'atman';
  tokens: number;
  /** process start to the model ready (plain: session created) */
  loadSeconds: number;
  /** the one forward pass (plain), or the explanation / unperturbed pass (atman) */
  runSeconds: number;
  /** whole process: start of main to the end of the run */
  totalSeconds: number;
  peakRssBytes: number;
  split?: Record<string, number>;
  passes?: number;
}

const gib = (b: number) => (b / 2 ** 30).toFixed(2);

async function plainChild(dir: string, n: number): Promise<LoadRecord> {
  const tStart = performance.now();
  const ort = await import('onnxruntime-node');
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  const t1 = performance.now();
  const { default: config } = await import(join(dir, 'config.json'), { with: { type: 'json' } });
  const heads = config.n_head as number;
  const headDim = (config.n_embd as number) / heads;
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 7919 + 3) % 1000));
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const name of session.inputNames) {
    if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', ids, [1, n]);
    else if (name === 'attention_mask') feeds[name] = new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
    else if (name === 'position_ids') feeds[name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), [1, n]);
    else if (name.startsWith('past_key_values')) feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
    else throw new Error(`unknown input ${name}`);
  }
  const out = await session.run(feeds);
  const t2 = performance.now();
  if (!out.logits) throw new Error('no logits');
  await session.release();
  return { kind: 'plain', tokens: n, loadSeconds: (t1 - t0) / 1000, runSeconds: (t2 - t1) / 1000, totalSeconds: (t2 - tStart) / 1000, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

async function atmanChild(dir: string, n: number, full: boolean): Promise<LoadRecord> {
  const tStart = performance.now();
  const { AtmanModel } = await import('../src/runtime/atman/atman-model');
  const { folderSource } = await import('../src/runtime/sources/folder-source');
  const { createNodeBackend } = await import('../src/runtime/backends/node-backend');
  const { explain } = await import('../src/runtime/atman/explain');
  const { runPasses } = await import('../src/runtime/atman/pass-runner');
  // From here on: the engine's load, as the run report splits it (module loading excluded, as for plain).
  const t0 = performance.now();
  const model = await AtmanModel.load(folderSource(dir), createNodeBackend());
  const t1 = performance.now();
  const { peakRssBytes: _, total: __, ...split } = model.loadTimes;
  // Grow the text a sentence at a time: the whole repeated text would pass the model's position limit.
  const sentences = TEXT.match(/[^.]+\./g)!;
  let text = '';
  let tokens = model.tokenizer.encodePrompt(' ');
  for (let i = 0; tokens.length < n; i++) {
    text += sentences[i % sentences.length];
    tokens = model.tokenizer.encodePrompt(text);
  }
  const prompt = text.slice(0, tokens[n - 1]!.end);
  let passes = 1;
  if (full) {
    const x = await explain(model, { prompt, target: TARGET, settings: { kappa: null, granularity: { kind: n > 200 ? 'sentence' : 'token' } } });
    passes = x.passes;
  } else {
    // The unperturbed pass alone, full logits read back: what the plain process runs.
    const ids = model.tokenizer.encodePrompt(prompt).map((t) => t.id);
    const targetIds = model.tokenizer.encodeTarget(TARGET).map((t) => t.id);
    const seq = [...ids, ...targetIds.slice(0, -1)].slice(0, n);
    await runPasses(model, { ids: seq, targetIds: targetIds.slice(-1), promptLen: seq.length, unitCount: 0, factorsOf: () => new Float32Array(seq.length).fill(1) }, { batchSize: 1, scoreHead: false, prefixReuse: false });
  }
  const t2 = performance.now();
  await model.release();
  return { kind: 'atman', tokens: n, loadSeconds: (t1 - t0) / 1000, runSeconds: (t2 - t1) / 1000, totalSeconds: (t2 - tStart) / 1000, peakRssBytes: process.resourceUsage().maxRSS * 1024, split, passes };
}

function runChild(kind: string, dir: string, n: number): LoadRecord {
  const args = ['tsx', 'scripts/bench-load.ts', '--child', kind, '--dir', dir, '--tokens', String(n), ...(values.explain ? ['--explain'] : [])];
  const r = spawnSync('npx', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`${kind} child failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(line.slice(7)) as LoadRecord;
}

async function main(): Promise<void> {
  if (values.child) {
    const n = Number(values.tokens);
    const rec = values.child === 'plain' ? await plainChild(values.dir!, n) : await atmanChild(values.dir!, n, values.explain!);
    console.log(`RESULT ${JSON.stringify(rec)}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'atman-bench-load-'));
  try {
    writeBenchModel(dir, { vocab: 50257, nLayer: Number(values.layers), nHead: 12, nEmbd: 768, nPositions: 1024 });
    const rows: LoadRecord[] = [];
    for (const n of values.lengths.split(',').map(Number)) {
      const plain = runChild('plain', dir, n);
      const atman = runChild('atman', dir, n);
      rows.push(plain, atman);
      const split = Object.entries(atman.split ?? {})
        .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
        .join(', ');
      console.log(
        `${n} tokens: plain create ${plain.loadSeconds.toFixed(2)} s + pass ${plain.runSeconds.toFixed(2)} s, peak RSS ${gib(plain.peakRssBytes)} GiB | ` +
          `atman load ${atman.loadSeconds.toFixed(2)} s (${split}), ${values.explain ? `explain (${atman.passes} passes)` : 'unperturbed pass'} ${atman.runSeconds.toFixed(2)} s, peak RSS ${gib(atman.peakRssBytes)} GiB | ` +
          `load ratio ${(atman.loadSeconds / (plain.loadSeconds + plain.runSeconds)).toFixed(2)} (vs create+run), RSS ratio ${(atman.peakRssBytes / plain.peakRssBytes).toFixed(2)}`,
      );
    }
    if (values.json) writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
