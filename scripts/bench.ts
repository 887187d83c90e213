// npm run bench [-- --layers 12 --lengths 32,64,128 --target-tokens 4 --backend cpu|wasm --json FILE]
// One explanation on a GPT-2-small-shaped model (random weights, with a
// key/value cache, generated here and not committed), for prompts of 32/64/128
// tokens, in four variants run side by side in one process:
//   naive            batch 1, full recomputation, full logits read back
//   batched          automatic batch size
//   batched+head     ... + score head (only target rows reach the LM head; [batch, T] read back)
//   batched+head+prefix ... + prefix reuse (each unit starts at its first changed column)
// It prints seconds, passes/s, the ratio to naive, the arithmetic work and
// GFLOP/s, and checks that every variant gives the same scores.
// Gradient section (skip with --no-gradients): on one prompt (--gradient-length, default 32 tokens),
// AtMan, one forward pass (raw attention) and the three gradient methods, each in a fresh process
// so the peak resident memory during the run is its own: seconds, resident set before the run,
// peak during it, and the difference. --only-gradients runs this section alone.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ortWeb from 'onnxruntime-web';
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explain } from '../src/runtime/atman/explain';
import { type Explanation } from '../src/runtime/schema';
import { folderSource } from '../src/runtime/sources/folder-source';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import { createWebBackend } from '../src/runtime/backends/web-backend';
import { BENCH_TARGET, BENCH_TEXT, type BenchRow, VARIANTS, benchRow, writeBenchModel } from './bench-common';
import { gradientSection } from './bench-gradients';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '12' },
    lengths: { type: 'string', default: '32,64,128' },
    'target-tokens': { type: 'string', default: '4' },
    backend: { type: 'string', default: 'cpu' },
    json: { type: 'string' },
    'no-gradients': { type: 'boolean' },
    'only-gradients': { type: 'boolean' },
    'gradient-length': { type: 'string', default: '32' },
    'ig-steps': { type: 'string', default: '50' },
  },
});

const dims = { vocab: 50257, nLayer: Number(values.layers), nHead: 12, nEmbd: 768, nPositions: 1024 };
const TEXT = BENCH_TEXT;
const TARGET_TEXT = BENCH_TARGET;

/** Multiply-adds x2 of the passes as run: weights per row, attention per row and key, LM head per scored row. */
function flops(x: Explanation): number {
  const { nLayer: L, nEmbd: E, vocab: V } = dims;
  const S = x.tokens.length - 1;
  const T = x.tokens.filter((t) => t.role === 'target').length;
  const perRow = 2 * L * 12 * E * E + 2 * L * 2 * S * E; // QKV+proj+MLP, then q·k and p·v over S keys
  const headRows = x.run.scoreHead ? x.passes * T : x.run.rowsComputed;
  return x.run.rowsComputed * perRow + headRows * 2 * E * V;
}

interface Row extends BenchRow {
  gflop: number;
  gflopPerSecond: number;
  rowsComputed: number;
  maxScoreDiffToNaive: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'atman-bench-'));
  try {
    let t = performance.now();
    writeBenchModel(dir, dims);
    console.log(`GPT-2-small-shaped model with KV cache (${dims.nLayer} layers, 768 hidden, vocab 50257) generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    if (values['only-gradients']) {
      const gradients = gradientSection(dir, Number(values['gradient-length']), Number(values['target-tokens']), Number(values['ig-steps']));
      if (values.json) writeFileSync(values.json, `${JSON.stringify({ gradients }, null, 2)}\n`);
      return;
    }
    ortWeb.env.wasm.numThreads = 1;
    const backend =
      values.backend === 'wasm' ? createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm') : createNodeBackend();
    t = performance.now();
    const model = await AtmanModel.load(folderSource(dir), backend, { selfCheck: true });
    const l = model.loadTimes;
    console.log(
      `load ${((performance.now() - t) / 1000).toFixed(1)} s: download ${l.download.toFixed(2)} s, rewrite ${l.rewrite.toFixed(2)} s, session ${l.session.toFixed(2)} s, ` +
        `self-check ${l.selfCheck.toFixed(2)} s (max logit difference ${model.current.selfCheck?.maxAbsDiff.toExponential(2)}, reference: ${model.current.selfCheck?.reference})` +
        `${l.peakRssBytes ? `, peak RSS ${(l.peakRssBytes / 2 ** 30).toFixed(2)} GiB` : ''}; against plain onnxruntime in separate processes: npm run bench:load`,
    );

    const rows: Row[] = [];
    const long = TEXT.repeat(8);
    const targetTokens = model.tokenizer.encodeTarget(TARGET_TEXT);
    const target = TARGET_TEXT.slice(0, targetTokens[Number(values['target-tokens']) - 1]!.end);
    for (const n of values.lengths.split(',').map(Number)) {
      const tokens = model.tokenizer.encodePrompt(long);
      const prompt = long.slice(0, tokens[n - 1]!.end);
      let naive: Explanation | null = null;
      for (const v of VARIANTS) {
        const x = await explain(model, { prompt, target, settings: { kappa: null }, ...v });
        naive ??= x;
        const diff = Math.max(...x.units.flatMap((u, i) => u.perTarget.map((r, k) => Math.abs(r - naive!.units[i]!.perTarget[k]!))));
        const g = flops(x) / 1e9;
        rows.push({ ...benchRow(v.variant, x, naive), gflop: g, gflopPerSecond: g / x.seconds, rowsComputed: x.run.rowsComputed, maxScoreDiffToNaive: diff });
        const r = rows.at(-1)!;
        console.log(`${r.variant.padEnd(20)} ${String(r.promptTokens).padStart(4)} tokens  ${r.seconds.toFixed(2).padStart(7)} s  x${(1 / r.ratioToNaive).toFixed(2)} vs naive  ${r.gflopPerSecond.toFixed(0)} GFLOP/s  max |dR| ${diff.toExponential(1)}`);
      }
    }
    await model.release();
    printTable(rows);
    const gradients = values['no-gradients'] ? [] : gradientSection(dir, Number(values['gradient-length']), Number(values['target-tokens']), Number(values['ig-steps']));
    if (values.json) writeFileSync(values.json, `${JSON.stringify(gradients.length ? { atman: rows, gradients } : rows, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(rows: Row[]): void {
  const head = ['variant', 'prompt tokens', 'passes', 'batch', 'seconds', 'passes/s', 'ratio to naive', 'GFLOP', 'GFLOP/s', 'rows', 'backend'];
  const body = rows.map((r) => [
    r.variant,
    String(r.promptTokens),
    String(r.passes),
    String(r.batchSize),
    r.seconds.toFixed(2),
    (r.passes / r.seconds).toFixed(1),
    r.ratioToNaive.toFixed(2),
    r.gflop.toFixed(0),
    r.gflopPerSecond.toFixed(0),
    String(r.rowsComputed),
    r.backend,
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  console.log(`\n${[head, ...body].map((r) => r.map((v, c) => v.padEnd(widths[c]!)).join('  ')).join('\n')}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
