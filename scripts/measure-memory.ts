// npm run measure-memory [-- --layers 12 --lengths 128,1000 --budget 512MiB]
// Checks the memory budget's estimate (src/core/memory-budget.ts) against onnxruntime-node: for
// each prompt length a child process loads the GPT-2-small-shaped bench model (key/value cache,
// random weights, generated here), says so, runs one AtMan explanation with the batch size the
// budget chose, and the parent reports how far the child's resident set (read from /proc every
// few milliseconds, Linux only) rose during the run over the loaded model's, just before the run or
// once it is over, whichever is lower. Prompts up to 256 tokens use token units; longer ones sentences,
// as a long document would.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatBytes, parseByteSize } from '../src/core/memory-budget';
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explain } from '../src/runtime/atman/explain';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import { folderSource } from '../src/runtime/sources/folder-source';
import { writeBenchModel } from './bench-common';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '12' },
    lengths: { type: 'string', default: '128,1000' },
    budget: { type: 'string', default: '512MiB' },
    json: { type: 'string' },
    child: { type: 'string' },
    length: { type: 'string' },
  },
});

const TEXT =
  'The committee met on Tuesday to review the budget. Several members asked about the new library, which had opened in March. ' +
  'The treasurer said the costs were higher than planned because the roof needed repairs. After a long discussion the members agreed ' +
  'to postpone the vote until the next meeting, when the architect could present a revised estimate for the work on the east wing. ';
const TARGET = ' The vote was postponed.';

interface Measured {
  promptTokens: number;
  granularity: string;
  passes: number;
  batchSize: number;
  budgetBytes: number;
  estimateBytes: number;
  perItemBytes: number;
  fixedBytes: number;
  loadedRssBytes: number;
  peakGrowthBytes: number;
  seconds: number;
}

const rssOf = (pid: number): number => {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  } catch {
    return 0;
  }
};

/** Runs the child for one length; samples its resident set from the moment it says it has loaded. */
function measure(dir: string, n: number): Promise<Measured> {
  const c = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', process.argv[1]!, '--child', dir, '--length', String(n), '--budget', values.budget], {
    // Big blocks from mmap and freed ones trimmed, so the resident set follows live memory
    // instead of keeping the load's freed heap for the passes to reuse unseen.
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let phase: 'load' | 'run' | 'after' | 'done' = 'load';
  let loaded = Infinity;
  let before = Infinity;
  let peak = 0;
  const timer = setInterval(() => {
    if (phase === 'run') peak = Math.max(peak, rssOf(c.pid!));
    if (phase === 'after') loaded = Math.min(loaded, rssOf(c.pid!) || Infinity);
  }, 2);
  c.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (phase === 'load' && out.includes('loaded\n')) {
      phase = 'run';
      before = rssOf(c.pid!) || Infinity;
    }
    if (phase === 'run' && out.includes('after\n')) phase = 'after';
    // The result line: the child releases the model and exits next, which is no floor.
    if (phase === 'after' && out.slice(out.indexOf('after\n')).includes('{')) phase = 'done';
  });
  return new Promise((resolve, reject) =>
    c.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`the ${n}-token child failed (${code})`));
      const m = JSON.parse(out.trim().split('\n').at(-1)!) as Measured;
      // The lower of the two floors: onnxruntime's allocator keeps blocks after the run, and the
      // load's buffers may be freed during it; either alone would hide part of the passes' memory.
      const floor = Math.min(before, loaded);
      resolve({ ...m, loadedRssBytes: floor, peakGrowthBytes: peak - floor });
    }),
  );
}

async function child(dir: string, n: number, budgetBytes: number): Promise<void> {
  const model = await AtmanModel.load(folderSource(dir), createNodeBackend(), { selfCheck: true });
  const long = TEXT.repeat(Math.ceil(n / 60) + 1);
  const tokens = model.tokenizer.encodePrompt(long);
  const prompt = long.slice(0, tokens[n - 1]!.end);
  const granularity: 'token' | 'sentence' = n <= 256 ? 'token' : 'sentence';
  const settle = async () => {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 300));
  };
  await settle();
  process.stdout.write('loaded\n');
  const x = await explain(model, { prompt, target: TARGET, settings: { granularity: granularity === 'token' ? { kind: 'token' } : { kind: 'sentence' }, kappa: null }, memoryBudgetBytes: budgetBytes });
  const m = x.run.memory!;
  // The floor: the loaded model once the passes' buffers are freed. Measuring from it rather than
  // from the resident set before the run keeps the load's own buffers, freed at some collection
  // during the run, from hiding the passes' memory.
  await settle();
  process.stdout.write('after\n');
  await new Promise((r) => setTimeout(r, 500));
  const out: Measured = {
    promptTokens: x.tokens.filter((t) => t.role === 'prompt').length,
    granularity,
    passes: x.passes,
    batchSize: m.batchSize,
    budgetBytes: m.budgetBytes,
    estimateBytes: m.estimateBytes,
    perItemBytes: m.perItemBytes,
    fixedBytes: m.fixedBytes,
    loadedRssBytes: 0,
    peakGrowthBytes: 0,
    seconds: x.seconds,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await model.release();
}

async function parent(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'atman-memory-'));
  try {
    const layers = Number(values.layers);
    writeBenchModel(dir, { vocab: 50257, nLayer: layers, nHead: 12, nEmbd: 768, nPositions: 1024 });
    console.log(`GPT-2-small-shaped model with KV cache (${layers} layers, 768 hidden, vocab 50257), budget ${values.budget}`);
    const rows: Measured[] = [];
    for (const n of values.lengths.split(',').map(Number)) {
      const m = await measure(dir, n);
      rows.push(m);
      const ok = m.peakGrowthBytes <= m.budgetBytes ? 'within' : 'OVER';
      console.log(
        `${String(m.promptTokens).padStart(5)} tokens (${m.granularity}, ${m.passes} passes, ${m.seconds.toFixed(1)} s): batch ${m.batchSize}, ` +
          `estimate ${formatBytes(m.estimateBytes)}, measured peak growth ${formatBytes(m.peakGrowthBytes)} over ${formatBytes(m.loadedRssBytes)} (the loaded model before or after the run, the lower) ` +
          `(${(m.peakGrowthBytes / m.estimateBytes).toFixed(2)}x the estimate), ${ok} the budget ${formatBytes(m.budgetBytes)}`,
      );
    }
    if (values.json) writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
    if (rows.some((m) => m.peakGrowthBytes > m.budgetBytes)) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.child) {
  child(values.child, Number(values.length), parseByteSize(values.budget)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  parent().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
