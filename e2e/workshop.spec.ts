// `npm run workshop` end to end: a model fetched beforehand (`npm run fetch-model`, here from a
// local server that answers like the hub) is served with the app over https from one machine; a
// browser opens the page, finds the model in the picker, and explains with it, every request
// going to that machine. The server serves the e2e build the suite already made (--no-build).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { fetchModel } from '../src/cli/fetch-model';
import { repoFromFolder, startHubServer } from '../src/testing/hub-server';
import { stopServer } from '../scripts/browser-bench-common';
import { collectErrors, collectForeignRequests, runAndWait, screenshot, shownExplanation, waitIdle } from './page';
import { PROMPT, TARGET, nodeExplanation, scoreDiff } from './reference';

const PORT = Number(process.env.E2E_PORT || 4173) + 270;
const ORIGIN = `https://127.0.0.1:${PORT}`;

let server: ChildProcess | null = null;
let models = '';

test.beforeAll(async () => {
  models = await mkdtemp(join(tmpdir(), 'workshop-'));
  const hub = await startHubServer(new Map([['teacher/tiny-gpt2', new Map([['main', repoFromFolder('fixtures/models/tiny-gpt2')]])]]));
  try {
    await fetchModel({ repo: 'teacher/tiny-gpt2', out: models, endpoint: hub.endpoint });
  } finally {
    await hub.close();
  }
  server = spawn('npx', ['tsx', 'scripts/workshop.ts', '--no-build', '--dist', 'dist-e2e', '--host', '127.0.0.1', '--port', String(PORT), '--models', models], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // its own process group, so that the end of the test stops npx, tsx and the server alike
    detached: true,
  });
  let printed = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`workshop server did not start:\n${printed}`)), 60_000);
    const read = (d: Buffer): void => {
      printed += d.toString();
      if (printed.includes('Stop with Ctrl+C.')) {
        clearTimeout(timer);
        resolve();
      }
    };
    server!.stdout!.on('data', read);
    server!.stderr!.on('data', read);
    server!.on('exit', (code) => reject(new Error(`workshop server exited (${code}):\n${printed}`)));
  });
  // It says where it serves, shows a QR code, and lists the fetched model.
  expect(printed).toContain(`${ORIGIN}/`);
  expect(printed).toMatch(/[▀▄█]{10}/);
  expect(printed).toMatch(/teacher\/tiny-gpt2\s+onnx\/model_q4\.onnx/);
});

test.afterAll(async () => {
  if (server) stopServer(server);
  if (models) await rm(models, { recursive: true, force: true });
});

test.use({ ignoreHTTPSErrors: true });

test('a class on one machine: https, the fetched model in the picker, explained from the teacher machine', async ({ page }, testInfo) => {
  const errors = collectErrors(page);
  const foreign = collectForeignRequests(page, `${ORIGIN}/`);
  await page.goto(`${ORIGIN}/?test`);
  await waitIdle(page);
  expect(await page.evaluate(() => [self.isSecureContext, self.crossOriginIsolated])).toEqual([true, true]);
  const option = page.getByTestId('model-select').locator('option[value="served:teacher/tiny-gpt2"]');
  await expect(option).toHaveText(/teacher\/tiny-gpt2 — onnx\/model_q4\.onnx/);
  await page.getByTestId('model-select').selectOption('served:teacher/tiny-gpt2');
  // Served models load at once, like the bundled ones.
  await expect(page.getByTestId('model-info')).toContainText('Loaded /workshop/models/teacher/tiny-gpt2/');
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('target').fill(TARGET);
  await runAndWait(page, 'Explain');
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'done');
  const x = await shownExplanation(page);
  expect(x.model.dtype).toBe('q4');
  const ref = await nodeExplanation('tiny-gpt2', 'multiplicative', PROMPT, TARGET, 'q4');
  expect(x.units.map((u) => u.label)).toEqual(ref.units.map((u) => u.label));
  expect(scoreDiff(x, ref)).toBeLessThan(1e-3);
  await screenshot(page, testInfo, 'workshop-served-model.png');
  expect(foreign).toEqual([]);
  expect(errors).toEqual([]);
});
