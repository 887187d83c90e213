// npx tsx scripts/bench-browser-load.ts [-- --repeats 3 --layers 12 --vocab 50257 --tokens 32 --no-build --json FILE]
// The playground's model load in the browser (WASM backend, headless Debian Chromium) against a bare
// page that creates one onnxruntime-web session from the same file and runs one forward pass, on the
// GPT-2-small-shaped bench model with a key/value cache (scripts/bench-common.ts; random weights,
// generated here, not committed).
//  - playground: the engine in its worker through the e2e build's harness page (`vite build --mode
//    e2e`, `vite preview`): engine.load with backend 'wasm', then a short explanation whose run
//    report carries the load split (download, rewrite, session, self-check);
//  - bare: a page served by this script with the same cross-origin isolation, the same
//    onnxruntime-web bundle and thread count, main thread: fetch, InferenceSession.create, one run.
// Each side runs in a fresh browser; the tab's memory is the sum of the resident sets of all of
// Chromium's processes, sampled every 25 ms from /proc, its peak over the load (the bare page's over
// its create and run). The sides alternate, `--repeats` times; medians are printed with the load average.
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser } from '@playwright/test';
import type { LoadTimes } from '../src/runtime/atman/atman-model';
import { writeBenchModel } from './bench-common';
import { launchChromium, serveE2eBuild, stopServer, waitFor } from './browser-bench-common';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    layers: { type: 'string', default: '12' },
    vocab: { type: 'string', default: '50257' },
    tokens: { type: 'string', default: '32' },
    port: { type: 'string', default: '4148' },
    'bare-port': { type: 'string', default: '4149' },
    'no-build': { type: 'boolean', default: false },
    /** internal: serve the bare page for the model folder given (a process of its own, as vite preview is for the playground) */
    'serve-bare': { type: 'string' },
    json: { type: 'string' },
  },
});
const dims = { vocab: Number(values.vocab), nLayer: Number(values.layers), nHead: 12, nEmbd: 768, nPositions: 1024 };
const TOKENS = Number(values.tokens);
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

// ---------------------------------------------------------------- memory of Chromium's processes

const PAGE = 4096;
function chromiumPids(): number[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      comm.set(Number(e), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(e), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  return [...comm].filter(([pid, c]) => /chrom/i.test(c) && mine(pid)).map(([pid]) => pid);
}

function rssOf(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** Samples the summed RSS every 25 ms until stopped; the process list is refreshed every second. */
function sampler(): { peak: () => number; stop: () => number } {
  let pids = chromiumPids();
  let peak = rssOf(pids);
  let n = 0;
  const timer = setInterval(() => {
    if (++n % 40 === 0) pids = chromiumPids();
    peak = Math.max(peak, rssOf(pids));
  }, 25);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

// ---------------------------------------------------------------- the bare page

const BARE_HTML = `<!doctype html><meta charset="utf-8"><title>bare onnxruntime-web</title><body>bare
<script type="module">
import * as ort from '/ort/ort.webgpu.bundle.min.mjs';
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(2, Math.min(4, navigator.hardwareConcurrency || 2)) : 1;
window.runBare = async ({ url, layers, heads, headDim, tokens }) => {
  const t0 = performance.now();
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const t1 = performance.now();
  let session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const t2 = performance.now();
  const i64 = (f) => new ort.Tensor('int64', BigInt64Array.from({ length: tokens }, (_, i) => BigInt(f(i))), [1, tokens]);
  const feeds = { input_ids: i64((i) => (i * 7) % 1000), attention_mask: i64(() => 1), position_ids: i64((i) => i) };
  for (let l = 0; l < layers; l++) for (const kv of ['key', 'value']) feeds['past_key_values.' + l + '.' + kv] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
  const out = await session.run(feeds);
  const t3 = performance.now();
  const logits = out.logits.dims.join('x');
  await session.release();
  return { download: (t1 - t0) / 1000, session: (t2 - t1) / 1000, run: (t3 - t2) / 1000, total: (t3 - t0) / 1000, logits };
};
document.body.dataset.state = 'ready';
</script>`;

function bareServer(modelDir: string, port: number): Promise<Server> {
  const ortDir = resolve('node_modules/onnxruntime-web/dist');
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0]!;
    for (const [k, v] of Object.entries(ISOLATION)) res.setHeader(k, v);
    const file = url === '/model.onnx' ? join(modelDir, 'onnx/model.onnx') : url.startsWith('/ort/') ? join(ortDir, url.slice(5).replace(/\.\./g, '')) : null;
    if (url === '/' || url === '/bare.html') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(BARE_HTML);
      return;
    }
    if (!file || !existsSync(file)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const type = file.endsWith('.mjs') ? 'text/javascript' : file.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream';
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', statSync(file).size);
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

// ---------------------------------------------------------------- the runs

interface Sample {
  side: 'playground' | 'bare';
  seconds: number;
  peakBytes: number;
  idleBytes: number;
  split: Record<string, number>;
}

const launch = (): Promise<Browser> => launchChromium(false);

async function playground(base: string, dir: string): Promise<Sample> {
  const browser = await launch();
  try {
    const page = await (await browser.newContext()).newPage();
    page.on('console', (m) => m.type() === 'error' && console.error(`page: ${m.text().slice(0, 300)}`));
    await page.goto(`${base}/e2e/engine-harness.html`);
    await page.waitForSelector('[data-testid="harness"][data-state="ready"]');
    await new Promise((r) => setTimeout(r, 500));
    const idleBytes = rssOf(chromiumPids());
    const mem = sampler();
    const t0 = Date.now();
    await page.evaluate((baseUrl) => window.harness.engine.load({ source: { kind: 'url', baseUrl }, backend: 'wasm' }), `/fixtures/models/${dir}/`);
    const seconds = (Date.now() - t0) / 1000;
    const peakBytes = mem.stop();
    // A short run whose report carries the load split.
    const x = await page.evaluate(() => window.harness.engine.explain({ prompt: 'The vote.', target: ' It', settings: { kappa: null, granularity: { kind: 'sentence' } } }));
    const load = x.run.load as LoadTimes;
    return { side: 'playground', seconds, peakBytes, idleBytes, split: { download: load.download, rewrite: load.rewrite, session: load.session, selfCheck: load.selfCheck, reference: load.reference } };
  } finally {
    await browser.close();
  }
}

async function bare(base: string): Promise<Sample> {
  const browser = await launch();
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/bare.html`);
    await page.waitForSelector('body[data-state="ready"]');
    await new Promise((r) => setTimeout(r, 500));
    const idleBytes = rssOf(chromiumPids());
    const mem = sampler();
    const t0 = Date.now();
    const r = await page.evaluate(
      (a) => (window as unknown as { runBare: (a: unknown) => Promise<Record<string, number>> }).runBare(a),
      { url: '/model.onnx', layers: dims.nLayer, heads: dims.nHead, headDim: dims.nEmbd / dims.nHead, tokens: TOKENS },
    );
    const seconds = (Date.now() - t0) / 1000;
    const peakBytes = mem.stop();
    return { side: 'bare', seconds, peakBytes, idleBytes, split: { download: r.download!, session: r.session!, run: r.run! } };
  } finally {
    await browser.close();
  }
}


const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

async function main(): Promise<void> {
  const name = `.bench-load-${process.pid}`;
  const dir = join('fixtures/models', name);
  writeBenchModel(dir, dims);
  const fileBytes = statSync(join(dir, 'onnx/model.onnx')).size;
  const base = `http://127.0.0.1:${values.port}`;
  const server = serveE2eBuild(values.port, !(values['no-build'] && existsSync('dist-e2e/e2e/engine-harness.html')));
  // Its own process, so that the sampling here does not slow the bare page's download.
  const bareHttp: ChildProcess = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '--serve-bare', dir, '--bare-port', values['bare-port']], { stdio: 'inherit' });
  const samples: Sample[] = [];
  try {
    await waitFor(`${base}/e2e/engine-harness.html`, 300_000);
    await waitFor(`http://127.0.0.1:${values['bare-port']}/bare.html`, 60_000);
    console.log(`model: ${dims.nLayer} layers, hidden ${dims.nEmbd}, vocab ${dims.vocab}, key/value cache; ${(fileBytes / 1e6).toFixed(0)} MB; WASM, headless Chromium`);
    for (let r = 0; r < Number(values.repeats); r++) {
      for (const side of r % 2 ? (['bare', 'playground'] as const) : (['playground', 'bare'] as const)) {
        const s = side === 'bare' ? await bare(`http://127.0.0.1:${values['bare-port']}`) : await playground(base, name);
        samples.push(s);
        const split = Object.entries(s.split).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
        console.log(`${side.padEnd(10)} ${s.seconds.toFixed(2).padStart(6)} s  peak ${gib(s.peakBytes)} (idle tab ${gib(s.idleBytes)})  [${split}]  load average ${loadavg()[0]!.toFixed(2)}`);
      }
    }
    const of = (side: Sample['side']) => samples.filter((s) => s.side === side);
    const [p, b] = [of('playground'), of('bare')];
    const mp = { seconds: median(p.map((s) => s.seconds)), peak: median(p.map((s) => s.peakBytes)) };
    const mb = { seconds: median(b.map((s) => s.seconds)), peak: median(b.map((s) => s.peakBytes)) };
    const splitMedian = Object.fromEntries(Object.keys(p[0]!.split).map((k) => [k, median(p.map((s) => s.split[k]!))]));
    console.log(`\nmedians of ${p.length} runs each (load average now ${loadavg().map((x) => x.toFixed(2)).join(' ')}):`);
    console.log(`playground load ${mp.seconds.toFixed(2)} s  [${Object.entries(splitMedian).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}]  peak ${gib(mp.peak)}`);
    console.log(`bare page       ${mb.seconds.toFixed(2)} s  peak ${gib(mb.peak)}`);
    console.log(`ratios: load ${(mp.seconds / mb.seconds).toFixed(2)}x (target <= 1.5x), tab memory ${(mp.peak / mb.peak).toFixed(2)}x (target <= 1.2x)`);
    if (values.json) writeFileSync(values.json, `${JSON.stringify({ dims, fileBytes, samples, medians: { playground: { ...mp, split: splitMedian }, bare: mb } }, null, 2)}\n`);
  } finally {
    bareHttp.kill();
    stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values['serve-bare']) await bareServer(values['serve-bare'], Number(values['bare-port']));
else main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
