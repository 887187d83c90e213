import { expect, test } from '@playwright/test';
import { collectErrors, choose, explainError, explainOnPage, readProbe, screenshot } from './page';
import { PROMPT, TARGET, nodeExplanation, scoreDiff } from './reference';

// Runs in the 'chromium-webgpu' project (WebGPU through SwiftShader). Scores from the
// browser worker must match the Node engine (onnxruntime-node) on the same fixture.
const TOL = 1e-3;

test.beforeEach(async ({ page }) => {
  // Every test starts from the defaults, not from what an earlier test left in localStorage.
  await page.goto('/');
  await page.evaluate(() => localStorage.clear());
  await page.goto('/');
});

test('probe finds the SwiftShader WebGPU adapter and the badge names it', async ({ page }) => {
  const probe = await readProbe(page);
  expect(probe.webgpu, probe.reason).toBe(true);
  expect(probe.adapter?.toLowerCase()).toContain('swiftshader');
  expect(probe.shaderF16).toBe(false); // SwiftShader has no shader-f16: fp16 models must be refused
  await expect(page.getByTestId('backend-badge')).toHaveText(/^WebGPU: .*swiftshader/i);
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  await expect(page.getByTestId('prompt')).toHaveValue(PROMPT);
  await expect(page.getByTestId('target')).toHaveValue(TARGET);
});

test('tiny-gpt2: default example on WebGPU and WASM matches the Node engine', async ({ page, context, baseURL }, testInfo) => {
  const errors = collectErrors(page);
  // Offline means every request, the worker's and ORT's .wasm included, stays on this origin.
  const foreign: string[] = [];
  context.on('request', (r) => {
    if (!r.url().startsWith(baseURL!) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  const ref = await nodeExplanation('tiny-gpt2');

  for (const backend of ['webgpu', 'wasm'] as const) {
    const x = await explainOnPage(page, { model: 'tiny-gpt2', backend });
    expect(x.model.backend).toBe(backend);
    expect(x.prompt).toBe(PROMPT);
    expect(x.units.map((u) => u.label)).toEqual(ref.units.map((u) => u.label));
    expect(scoreDiff(x, ref), `${backend} vs node`).toBeLessThan(TOL);
    await expect(page.getByTestId('progress')).toHaveAttribute('data-done', String(x.passes));
    // Every prompt token is drawn, coloured by its score, as text.
    await expect(page.getByTestId('result').locator('span.unit[data-score]')).toHaveCount(x.units.length);
    await expect(page.getByTestId('result')).toContainText('The cat sat on the mat.');
    console.log(`explain tiny-gpt2 default example on ${backend} (${x.model.device}): ${x.seconds.toFixed(3)} s, ${x.passes} passes, batch ${x.batchSize}`);
    await screenshot(page, testInfo, `tiny-gpt2-${backend}.png`);
  }
  expect(errors).toEqual([]);
  expect(foreign).toEqual([]);
});

test('tiny-llama on WebGPU matches the Node engine', async ({ page }, testInfo) => {
  const errors = collectErrors(page);
  const ref = await nodeExplanation('tiny-llama');
  const x = await explainOnPage(page, { model: 'tiny-llama', backend: 'webgpu' });
  expect(x.model.backend).toBe('webgpu');
  expect(x.units.map((u) => u.label)).toEqual(ref.units.map((u) => u.label));
  // Its graph computes RoPE with Sin/Cos, which WGSL allows to be off by 2^-11 absolute
  // (SwiftShader is): the unperturbed cross-entropies already differ by ~4e-4 from Node (WASM
  // matches Node to 1e-6), so scores (up to ~3 here) agree to 1e-3 relative to the largest.
  const scale = Math.max(1, ...ref.units.map((u) => Math.abs(u.score)));
  expect(scoreDiff(x, ref)).toBeLessThan(TOL * scale);
  console.log(`explain tiny-llama default example on webgpu: ${x.seconds.toFixed(3)} s, ${x.passes} passes`);
  await screenshot(page, testInfo, 'tiny-llama-webgpu.png');
  expect(errors).toEqual([]);
});

test('tiny-llama-gqa: multiplicative is refused in words, log-additive matches Node', async ({ page }, testInfo) => {
  const refused = await explainError(page, { model: 'tiny-llama-gqa', backend: 'webgpu', mode: 'multiplicative' });
  expect(refused.code).toBe('FUSED_ATTENTION_MULTIPLICATIVE');
  expect(refused.text).toMatch(/log-additive/i);
  await screenshot(page, testInfo, 'tiny-llama-gqa-multiplicative-error.png');

  const ref = await nodeExplanation('tiny-llama-gqa', 'log-additive');
  const x = await explainOnPage(page, { mode: 'log-additive' });
  expect(x.settings.mode).toBe('log-additive');
  expect(x.units.map((u) => u.label)).toEqual(ref.units.map((u) => u.label));
  expect(scoreDiff(x, ref)).toBeLessThan(TOL);
  await expect(page.getByTestId('error')).toBeEmpty();
  await screenshot(page, testInfo, 'tiny-llama-gqa-log-additive.png');
});

test('Cancel stops a long run between batches and keeps the prompt', async ({ page }, testInfo) => {
  await page.goto('/?batch=1');
  const prompt = Array.from({ length: 6 }, () => PROMPT).join(' ');
  await page.getByTestId('prompt').fill(prompt);
  await choose(page, { model: 'tiny-gpt2', backend: 'webgpu' });
  await page.getByRole('button', { name: 'Explain' }).click();
  const progress = page.getByTestId('progress');
  await expect(progress).toHaveAttribute('data-done', /^\d+$/);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'error');
  const error = page.getByTestId('error');
  await expect(error).toHaveAttribute('data-error-code', 'CANCELLED');
  await expect(error).toContainText(/cancelled after \d+ of \d+ passes/i);
  const done = Number(await progress.getAttribute('data-done'));
  const total = Number(await progress.getAttribute('data-total'));
  expect(done).toBeLessThan(total);
  await expect(page.getByTestId('prompt')).toHaveValue(prompt);
  await screenshot(page, testInfo, 'cancelled.png');

  // The engine is still usable after a cancel.
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByText('Advanced').click();
  await page.getByTestId('batch-size').fill('');
  const x = await explainOnPage(page);
  expect(x.passes).toBeGreaterThan(1);
});

test('missing model files and bad hub ids show MODEL_FILES_MISSING in words', async ({ page }, testInfo) => {
  const missing = await explainError(page, { custom: '/fixtures/models/nope/', backend: 'wasm' });
  expect(missing.code).toBe('MODEL_FILES_MISSING');
  expect(missing.text).toMatch(/missing config\.json, tokenizer\.json, onnx\/model\.onnx/);
  await screenshot(page, testInfo, 'missing-model.png');

  const bad = await explainError(page, { custom: 'not a hub id!' });
  expect(bad.code).toBe('MODEL_FILES_MISSING');
  expect(bad.text).toMatch(/not a Hugging Face model id/);
});

test('reload keeps the prompt, target and choices', async ({ page }) => {
  await page.getByTestId('prompt').fill('A different prompt, kept across reloads.');
  await page.getByTestId('target').fill(' kept');
  await choose(page, { model: 'tiny-llama', mode: 'log-additive', backend: 'wasm' });
  await page.reload();
  await expect(page.getByTestId('prompt')).toHaveValue('A different prompt, kept across reloads.');
  await expect(page.getByTestId('target')).toHaveValue(' kept');
  await expect(page.getByTestId('model-select')).toHaveValue('tiny-llama');
  await expect(page.getByTestId('mode-select')).toHaveValue('log-additive');
  await expect(page.getByTestId('backend-select')).toHaveValue('wasm');
});

test('Generate continues the prompt greedily', async ({ page }) => {
  await choose(page, { model: 'tiny-gpt2', backend: 'wasm' });
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByTestId('status')).toHaveText('done');
  await expect(page.getByTestId('error')).toBeEmpty();
  const text = (await page.getByTestId('generation').textContent()) ?? '';
  expect(text.startsWith(PROMPT)).toBe(true);
  expect(text.length).toBeGreaterThan(PROMPT.length);
});
