// npm run bench:browser [-- --layers 2 --lengths 32 --backend webgpu|wasm --json FILE]
// The bench's variants through the real page: the e2e build (the app plus its engine harness page) served by
// `vite preview`, Debian's Chromium with WebGPU (SwiftShader here), the engine
// in its worker. The GPT-2-small-shaped model (random weights, KV cache; by
// default 2 layers and an 8192-token vocabulary, since SwiftShader runs WebGPU
// on the CPU) is generated here and served to the page from a temporary folder.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Explanation } from '../src/protocol/engine-api';
import { type BenchRow, VARIANTS, benchRow, writeBenchModel } from './bench-common';
import { launchChromium, serveE2eBuild, stopServer, waitFor } from './browser-bench-common';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '2' },
    // GPT-2's 50257 rows make a ~370 MB graph, which a headless tab on SwiftShader does not survive here.
    vocab: { type: 'string', default: '8192' },
    lengths: { type: 'string', default: '32' },
    backend: { type: 'string', default: 'webgpu' },
    port: { type: 'string', default: '4399' },
    json: { type: 'string' },
  },
});
const dims = { vocab: Number(values.vocab), nLayer: Number(values.layers), nHead: 12, nEmbd: 768, nPositions: 1024 };
const TEXT = 'The committee met on Tuesday to review the budget. Several members asked about the new library, which had opened in March. '.repeat(20);


async function main(): Promise<void> {
  // Served by the preview server's fixture route (large bodies through Playwright's route API break its connection).
  const dir = join('fixtures/models', `.bench-${process.pid}`);
  writeBenchModel(dir, dims);

  const base = `http://127.0.0.1:${values.port}`;
  const server = serveE2eBuild(values.port);
  const browser = await launchChromium();
  try {
    await waitFor(`${base}/e2e/engine-harness.html`, 120_000);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('crash', () => console.error('the page crashed'));
    page.on('console', (m) => m.type() === 'error' && console.error(`page: ${m.text()}`));
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${base}/e2e/engine-harness.html`);
    await page.waitForSelector('[data-testid="harness"][data-state="ready"]');
    const info = await page.evaluate(
      ({ backend, dir }) => window.harness.engine.load({ source: { kind: 'url', baseUrl: `/fixtures/models/${dir}/` }, backend: backend as 'webgpu' | 'wasm' }),
      { backend: values.backend, dir: dir.split('/').pop()! },
    );
    console.log(`loaded on ${info.backend} (${info.device})`);
    const rows: BenchRow[] = [];
    for (const n of values.lengths.split(',').map(Number)) {
      const prompt = await promptOfLength(page, n);
      let naive: Explanation | null = null;
      for (const v of VARIANTS) {
        const x = await page.evaluate(({ prompt, v }) => window.harness.engine.explain({ prompt, target: ' The vote', settings: { kappa: null }, ...v }), { prompt, v });
        naive ??= x;
        const row = benchRow(v.variant, x, naive);
        rows.push(row);
        console.log(`${row.variant.padEnd(20)} ${String(row.promptTokens).padStart(4)} tokens  ${x.seconds.toFixed(2).padStart(7)} s  x${(1 / row.ratioToNaive).toFixed(2)} vs naive  batch ${row.batchSize}`);
      }
    }
    if (values.json) writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
  } finally {
    await browser.close();
    stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A prompt of exactly n tokens: cut the text after the n-th token of the model's own tokenizer. */
async function promptOfLength(page: import('@playwright/test').Page, n: number): Promise<string> {
  const plan = await page.evaluate((text) => window.harness.engine.plan({ prompt: text, target: ' x', settings: { kappa: null } }), TEXT.slice(0, 8 * n));
  const prompt = plan.tokens.filter((t) => t.role === 'prompt');
  return TEXT.slice(0, prompt[n - 1]!.end);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
