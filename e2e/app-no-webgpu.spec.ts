import { expect, test } from '@playwright/test';
import { collectErrors, choose, explainError, explainOnPage, openFresh, readProbe, screenshot } from './page';
import { PROMPT, TARGET, nodeExplanation, scoreDiff } from './reference';

// Runs in the 'chromium-no-webgpu' project: Chromium without --enable-unsafe-webgpu.

test('without WebGPU the badge says WASM and why, and explain runs on WASM', async ({ page }, testInfo) => {
  const errors = collectErrors(page);
  await openFresh(page);
  const probe = await readProbe(page);
  expect(probe.webgpu).toBe(false);
  expect(probe.reason).toBeTruthy();
  const badge = page.getByTestId('backend-badge');
  await expect(badge).toHaveAttribute('data-state', 'wasm');
  await expect(badge).toHaveText(`WASM — WebGPU unavailable: ${probe.reason}`);
  await choose(page, { fixture: 'tiny-gpt2', backend: 'auto' });
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('target').fill(TARGET);
  const x = await explainOnPage(page);
  expect(x.model.backend).toBe('wasm');
  expect(x.model.dtype).toBe('q4');
  const ref = await nodeExplanation('tiny-gpt2', 'multiplicative', PROMPT, TARGET, x.model.dtype);
  expect(scoreDiff(x, ref)).toBeLessThan(1e-3);
  console.log(`explain tiny-gpt2 on wasm (no WebGPU): ${x.seconds.toFixed(3)} s`);
  await screenshot(page, testInfo, 'no-webgpu.png');
  expect(errors).toEqual([]);
});

test('asking for webgpu without it fails with a coded error in words', async ({ page }) => {
  await openFresh(page);
  await readProbe(page);
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('target').fill(TARGET);
  await page.getByTestId('model-select').selectOption('fixture:tiny-gpt2');
  await page.getByTestId('backend-select').selectOption('webgpu');
  const e = await explainError(page);
  expect(e.code).toBe('BACKEND_FAILED');
  expect(e.text).toContain('WebGPU is not available');
});
