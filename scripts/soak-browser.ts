// npm run soak [-- --runs 200 --backend auto|webgpu|wasm --port 4148 --no-build]
// Many explanations in a row in one page: the built app (the e2e build, whose `?test` hooks
// read the worker's counts) in Debian's Chromium, the demo model, the same example explained
// again and again through the app's own actions (store, worker, rendering). Prints the page's JS
// heap (CDP Runtime.getHeapUsage after a forced collection) and the worker's live GPU buffers and
// ORT sessions after a warm-up and at the end, and fails when they grew by more than the bounds:
// a leak of one explanation's objects per run would pass them within a few dozen runs.
import { parseArgs } from 'node:util';
import type { Page } from '@playwright/test';
import type { LiveCounts } from '../src/protocol/engine-api';
import { launchChromium, serveE2eBuild, stopServer, waitFor } from './browser-bench-common';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'auto' },
    port: { type: 'string', default: '4148' },
    'no-build': { type: 'boolean', default: false },
  },
});

/** Growth allowed from the end of the warm-up to the end of the runs. */
const BOUNDS = {
  /** the page keeps one explanation (tens of kB); 10 MB is hundreds of runs' worth of a leaked one */
  heapBytes: 10 * 1024 * 1024,
  /** ORT keeps a pool of GPU buffers it reuses by size; a run must not add to it for good */
  gpuBuffers: 8,
  sessions: 0,
};

interface Sample {
  heapUsed: number;
  heapTotal: number;
  counts: LiveCounts | null;
}


type TestHooks = {
  counts(): Promise<LiveCounts | null>;
  actions: { explain(): Promise<void> };
  store: { getState(): { status: string; error: { code: string; message: string } | null; explanation: { seconds: number; model: { backend: string } } | null; updateSettings(s: object): void; setBackend?(b: string): void } };
};

async function sample(page: Page, cdp: import('@playwright/test').CDPSession): Promise<Sample> {
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
  const counts = await page.evaluate(() => (window as unknown as { __atmanTest: TestHooks }).__atmanTest.counts());
  return { heapUsed: heap.usedSize, heapTotal: heap.totalSize, counts };
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(2)} MB`;
const show = (label: string, s: Sample): string =>
  `${label.padEnd(6)} page heap ${mb(s.heapUsed)} (of ${mb(s.heapTotal)}); worker: ${s.counts?.gpuBuffers ?? '?'} GPU buffers alive (${mb(s.counts?.gpuBufferBytes ?? 0)}, ${s.counts?.gpuBuffersCreated ?? '?'} created so far), ${s.counts?.sessions ?? '?'} sessions`;

async function explainTimes(page: Page, n: number): Promise<number[]> {
  return page.evaluate(async (n) => {
    const t = (window as unknown as { __atmanTest: TestHooks }).__atmanTest;
    const seconds: number[] = [];
    for (let i = 0; i < n; i++) {
      await t.actions.explain();
      const s = t.store.getState();
      if (s.error) throw new Error(`run ${i + 1}: ${s.error.code}: ${s.error.message}`);
      seconds.push(s.explanation!.seconds);
    }
    return seconds;
  }, n);
}

async function main(): Promise<void> {
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  const base = `http://127.0.0.1:${values.port}`;
  const server = serveE2eBuild(values.port, !values['no-build']);
  const browser = await launchChromium();
  let failed = false;
  try {
    await waitFor(`${base}/`, 180_000);
    const page = await browser.newPage();
    page.on('crash', () => console.error('the page crashed'));
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${base}/?test`);
    await page.waitForSelector('[data-testid="run-bar"][data-status="idle"]', { timeout: 180_000 });
    if (values.backend !== 'auto') await page.getByTestId('backend-select').selectOption(values.backend);
    // Sentence units, as the demo example opens: a few passes per run, so many runs fit in minutes.
    await page.evaluate(() => (window as unknown as { __atmanTest: TestHooks }).__atmanTest.store.getState().updateSettings({ granularity: { kind: 'sentence' } }));
    const cdp = await page.context().newCDPSession(page);

    const warm = await explainTimes(page, warmup);
    const start = await sample(page, cdp);
    const backend = await page.evaluate(() => (window as unknown as { __atmanTest: TestHooks }).__atmanTest.store.getState().explanation!.model.backend);
    console.log(`demo model on ${backend}; ${warmup} warm-up runs (${warm.map((s) => s.toFixed(2)).join(', ')} s)`);
    console.log(show('start', start));
    const t0 = Date.now();
    const times: number[] = [];
    const step = Math.max(1, Math.ceil(runs / 10));
    for (let done = 0; done < runs; done += step) {
      times.push(...(await explainTimes(page, Math.min(step, runs - done))));
      const s = await sample(page, cdp);
      console.log(`  after ${String(times.length).padStart(4)} runs: page heap ${mb(s.heapUsed)}, ${s.counts?.gpuBuffers ?? '?'} GPU buffers, ${s.counts?.sessions ?? '?'} sessions`);
    }
    const end = await sample(page, cdp);
    console.log(show('end', end));
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    console.log(`${runs} explanations in ${((Date.now() - t0) / 1000).toFixed(1)} s (engine time per run: mean ${mean.toFixed(3)} s, first ${times[0]!.toFixed(3)} s, last ${times.at(-1)!.toFixed(3)} s)`);

    const growth = {
      heapBytes: end.heapUsed - start.heapUsed,
      gpuBuffers: (end.counts?.gpuBuffers ?? 0) - (start.counts?.gpuBuffers ?? 0),
      sessions: (end.counts?.sessions ?? 0) - (start.counts?.sessions ?? 0),
    };
    const over = (Object.keys(BOUNDS) as Array<keyof typeof BOUNDS>).filter((k) => growth[k] > BOUNDS[k]);
    console.log(
      `growth: page heap ${mb(growth.heapBytes)} (bound ${mb(BOUNDS.heapBytes)}), GPU buffers ${growth.gpuBuffers} (bound ${BOUNDS.gpuBuffers}), sessions ${growth.sessions} (bound ${BOUNDS.sessions})`,
    );
    if (over.length) {
      console.error(`FAIL: grew beyond the bound: ${over.join(', ')}`);
      failed = true;
    } else console.log('OK: flat within the bounds');
  } finally {
    await browser.close();
    stopServer(server);
  }
  if (failed) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
