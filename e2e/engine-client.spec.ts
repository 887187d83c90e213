// The engine client in the browser, through the test harness page (e2e/engine-harness.html,
// built as a second page): model cache, model folders, crash and hard-stop recovery.
import { statSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import type { ExplainRequestData, LoadRequest } from '../src/protocol/engine-api';
import { PROMPT, TARGET, scoreDiff } from './reference';

const FIXTURE = 'fixtures/models/tiny-gpt2';
const explainReq: ExplainRequestData = { prompt: PROMPT, target: TARGET };

async function openHarness(page: Page): Promise<void> {
  await page.goto('/e2e/engine-harness.html');
  await expect(page.getByTestId('harness')).toHaveAttribute('data-state', 'ready');
}

const errorOf = (page: Page, run: () => Promise<unknown>) => page.evaluate(run).then(() => null, (e: Error) => e.message);

test('a model downloaded by URL is cached, loads with the network blocked, and is cleared', async ({ page, context, baseURL }) => {
  const base = `${baseURL}${FIXTURE}/`;
  const fetched = new Set<string>();
  context.on('requestfinished', (r) => {
    if (r.url().startsWith(base) && r.method() === 'GET') fetched.add(r.url().slice(base.length));
  });
  await openHarness(page);
  // fp32 asked for: auto would take the fixture's q4 graph on WASM.
  const load: LoadRequest = { source: { kind: 'url', baseUrl: base }, backend: 'wasm', dtype: 'fp32' };
  const progress = await page.evaluate(async (req) => {
    const seen: Array<{ stage: string; file?: string; loaded: number; total: number | null }> = [];
    await window.harness.engine.load(req, (p) => seen.push(p));
    return seen;
  }, load);
  // Download progress still flows through the cache: bytes loaded of the file's total.
  const modelBytes = statSync(`${FIXTURE}/onnx/model.onnx`).size;
  expect(progress.filter((p) => p.file === 'onnx/model.onnx').at(-1)).toEqual({ stage: 'download', file: 'onnx/model.onnx', loaded: modelBytes, total: modelBytes });

  const files = [...fetched].sort();
  expect(files).toContain('onnx/model.onnx');
  const bytes = files.reduce((n, f) => n + statSync(`${FIXTURE}/${f}`).size, 0);
  expect(await page.evaluate(() => window.harness.engine.cachedModels())).toEqual([{ id: base, files: files.length, bytes }]);

  // A new page, a new worker, and no network for the model: it comes from Cache Storage.
  const blocked: string[] = [];
  await context.route(`${base}**`, (route) => {
    blocked.push(route.request().url());
    return route.abort();
  });
  await openHarness(page);
  const again = await page.evaluate(async (req) => {
    const seen: Array<{ file?: string; loaded: number; total: number | null }> = [];
    const info = await window.harness.engine.load(req, (p) => seen.push(p));
    return { info, seen };
  }, load);
  expect(again.info.id).toBe(base);
  expect(again.seen.filter((p) => p.file === 'onnx/model.onnx')).toEqual([{ stage: 'download', file: 'onnx/model.onnx', loaded: modelBytes, total: modelBytes }]);
  // Only files the model does not have were asked for (and refused).
  for (const url of blocked) expect(files).not.toContain(url.slice(base.length));
  const x = await page.evaluate((r) => window.harness.engine.explain(r), explainReq);
  expect(x.passes).toBeGreaterThan(0);

  await page.evaluate((id) => window.harness.engine.clearCache(id), base);
  expect(await page.evaluate(() => window.harness.engine.cachedModels())).toEqual([]);
  const err = await errorOf(page, () => window.harness.engine.load({ source: { kind: 'url', baseUrl: location.origin + '/fixtures/models/tiny-gpt2/' }, backend: 'wasm' }));
  // With nothing cached and no network, the cause is the network, not missing files.
  expect(err).toMatch(/Couldn't reach 127\.0\.0\.1:\d+ for (config|tokenizer)\.json of .*: offline or blocked; bundled models still work\./);
  expect(err).not.toMatch(/missing/);
});

test('a model folder from the picker loads and explains like the URL; a non-model folder is named', async ({ page }) => {
  await openHarness(page);
  await page.getByTestId('folder').setInputFiles(FIXTURE);
  const picked = await page.evaluate(async (r) => {
    const input = document.querySelector<HTMLInputElement>('[data-testid="folder"]')!;
    const { name, files } = window.harness.folders.folderFromInput(input.files!);
    const info = await window.harness.engine.load({ source: { kind: 'files', id: name, files }, backend: 'wasm' });
    const fromFolder = await window.harness.engine.explain(r);
    await window.harness.engine.load({ source: { kind: 'url', baseUrl: '/fixtures/models/tiny-gpt2/' }, backend: 'wasm' });
    const fromUrl = await window.harness.engine.explain(r);
    return { name, paths: files.map((f) => f.path).sort(), info, fromFolder, fromUrl };
  }, explainReq);
  expect(picked.name).toBe('tiny-gpt2');
  expect(picked.paths).toContain('onnx/model.onnx');
  expect(picked.paths).toContain('config.json');
  expect(picked.info.id).toBe('tiny-gpt2');
  expect(picked.fromFolder.units).toEqual(picked.fromUrl.units);

  await page.getByTestId('folder').setInputFiles(`${FIXTURE}/onnx`);
  const err = await page.evaluate(async () => {
    const input = document.querySelector<HTMLInputElement>('[data-testid="folder"]')!;
    const { name, files } = window.harness.folders.folderFromInput(input.files!);
    return window.harness.engine.load({ source: { kind: 'files', id: name, files }, backend: 'wasm' }).then(
      () => null,
      (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
    );
  });
  expect(err?.code).toBe('MODEL_FILES_MISSING');
  expect(err?.message).toContain('The folder "onnx" is not a model folder: it has no config.json, tokenizer.json, onnx/model.onnx (or any other ONNX graph in onnx/)');
  expect(err?.message).toContain("pick the model's own folder");
});

// A long run on WebGPU (SwiftShader): one pass per batch, each a GPU round trip, so the crash
// lands mid-run.
const longRun: ExplainRequestData = { prompt: `${PROMPT} ${PROMPT} ${PROMPT}`, target: TARGET, batchSize: 1 };
const gpuLoad: LoadRequest = { source: { kind: 'url', baseUrl: '/fixtures/models/tiny-gpt2/' }, backend: 'webgpu', selfCheck: false };

for (const how of ['close', 'throw'] as const) {
  test(`a worker that dies mid-run (${how}) fails the run with WORKER_CRASHED, restarts, and works again`, { tag: '@webgpu' }, async ({ page }) => {
    await openHarness(page);
    const result = await page.evaluate(
      async ([load, req, how, short]) => {
        const { engine, restarts } = window.harness;
        await engine.load(load);
        let passes = 0;
        const run = engine.explain(req, (p) => {
          if (!passes) void engine.__crashForTest(how);
          passes = p.loaded;
        });
        const err = await run.then(
          () => null,
          (e: { name: string; code?: string; message: string }) => ({ name: e.name, code: e.code, message: e.message }),
        );
        const passesAtCrash = passes;
        await engine.load(load);
        const after = await engine.explain(short);
        return { err, passesAtCrash, restarts: [...restarts], after: after.passes, generation: engine.generation };
      },
      [gpuLoad, longRun, how, explainReq] as const,
    );
    expect(result.err).toEqual({
      name: 'AtmanError',
      code: 'WORKER_CRASHED',
      message: expect.stringMatching(/^The engine stopped unexpectedly \(.+\); it has been restarted\. Press Explain to run again\.$/),
    });
    // 'close' fires no event at all: only the worker's Web Lock tells; 'throw' is an error event.
    expect(result.err!.message).toContain(how === 'close' ? '(the worker closed)' : 'test crash');
    expect(result.passesAtCrash).toBeGreaterThan(0);
    expect(result.restarts).toEqual([{ reason: 'crashed', message: result.err!.message, restarted: true, generation: 2 }]);
    expect(result.generation).toBe(2);
    expect(result.after).toBeGreaterThan(0);
  });
}

test('cancel() stops a run between passes; terminate() stops it hard and restarts', { tag: '@webgpu' }, async ({ page }) => {
  await openHarness(page);
  const result = await page.evaluate(
    async ([load, req, short]) => {
      const { engine, restarts } = window.harness;
      const fail = (e: { code?: string; message: string }) => ({ code: e.code, message: e.message });
      // Acts on the first progress event only.
      const first = (act: () => void) => {
        let done = false;
        return () => void (done || ((done = true), act()));
      };
      await engine.load(load);
      const cancelled = await engine.explain(req, first(() => void engine.cancel())).then(() => null, fail);
      // The model is still loaded after a cooperative cancel.
      const stillThere = (await engine.explain(short)).passes;
      const terminated = await engine.explain(req, first(() => engine.terminate())).then(() => null, fail);
      const restartsAfter = [...restarts];
      await engine.load(load);
      const after = (await engine.explain(short)).passes;
      return { cancelled, stillThere, terminated, restartsAfter, after };
    },
    [gpuLoad, longRun, explainReq] as const,
  );
  expect(result.cancelled?.code).toBe('CANCELLED');
  expect(result.stillThere).toBeGreaterThan(0);
  expect(result.terminated).toEqual({ code: 'CANCELLED', message: 'Stopped: the engine was restarted. Press Explain to run again.' });
  expect(result.restartsAfter).toEqual([{ reason: 'terminated', message: result.terminated!.message, restarted: true, generation: 2 }]);
  expect(result.after).toBeGreaterThan(0);
});

test('a GPU device lost mid-run: the run finishes on a new device, and on WASM when it is lost again, with the same scores', { tag: '@webgpu' }, async ({ page }) => {
  // Four workers, four loads and three runs (4.7 min on a heavily shared 2-core machine).
  test.setTimeout(420_000);
  await openHarness(page);
  const result = await page.evaluate(
    async ([load, req]) => {
      const { engine, restarts } = window.harness;
      const info = await engine.load(load);
      const ref = await engine.explain(req);
      // Destroys ORT's GPU device at the first progress of a run (as a driver reset would), `times` times.
      const run = async (times: number) => {
        let lost = 0;
        const answers: Array<Promise<unknown>> = [];
        const x = await engine.explain(req, () => {
          if (lost < times) {
            lost++;
            answers.push(engine.__loseDeviceForTest().catch((e: Error) => e.message));
          }
        });
        return { x, lost, answers: await Promise.all(answers) };
      };
      const once = await run(1);
      const newDevice = [...restarts];
      const twice = await run(2);
      return { info, ref, once, newDevice, twice, restarts: [...restarts] };
    },
    // Short (a few passes), one pass per batch so that the loss lands between passes.
    [gpuLoad, { prompt: 'The cat sat on the mat. The dog ran.', target: ' The dog', batchSize: 1 }] as const,
  );
  expect(result.info.backend).toBe('webgpu');
  expect(result.once.lost).toBe(1);
  expect(result.newDevice.map((r) => [r.reason, r.model?.backend])).toEqual([['device-lost', 'webgpu']]);
  expect(result.once.x.model.backend).toBe('webgpu');
  expect(result.once.x.run.notes.join(' ')).toMatch(/the GPU device was lost during the run; the model was loaded again and the run finished on a new GPU device/);
  expect(result.twice.lost).toBe(2);
  expect(result.restarts.map((r) => [r.reason, r.model?.backend])).toEqual([
    ['device-lost', 'webgpu'],
    ['device-lost', 'webgpu'],
    ['device-lost', 'wasm'],
  ]);
  expect(result.twice.x.model.backend).toBe('wasm');
  expect(result.twice.x.run.notes.join(' ')).toMatch(/lost during the run \(2 times\).*finished on WASM/);
  for (const x of [result.once.x, result.twice.x]) {
    expect(x.passes).toBe(result.ref.passes);
    expect(scoreDiff(x, result.ref)).toBeLessThan(1e-3);
  }
});

// window.harness's type, for the page.evaluate bodies above (the module itself runs in the page).
export type {} from './engine-harness';
