import { expect, test } from '@playwright/test';
import { collectErrors, explainError, explainOnPage, readProbe, screenshot } from './page';
import { nodeExplanation, scoreDiff } from './reference';

// Runs in the 'chromium-no-webgpu' project: Chromium without --enable-unsafe-webgpu.

test('without WebGPU the badge says WASM and why, and explain runs on WASM', async ({ page }, testInfo) => {
  const errors = collectErrors(page);
  await page.goto('/');
  const probe = await readProbe(page);
  expect(probe.webgpu).toBe(false);
  expect(probe.reason).toBeTruthy();
  const badge = page.getByTestId('backend-badge');
  await expect(badge).toHaveAttribute('data-state', 'wasm');
  await expect(badge).toHaveText(`WASM (${probe.reason})`);

  const ref = await nodeExplanation('tiny-gpt2');
  const x = await explainOnPage(page, { model: 'tiny-gpt2', backend: 'auto' });
  expect(x.model.backend).toBe('wasm');
  expect(x.units.map((u) => u.label)).toEqual(ref.units.map((u) => u.label));
  expect(scoreDiff(x, ref)).toBeLessThan(1e-3);
  console.log(`explain tiny-gpt2 default example on wasm (no WebGPU): ${x.seconds.toFixed(3)} s`);
  await screenshot(page, testInfo, 'no-webgpu.png');
  expect(errors).toEqual([]);
});

test('asking for webgpu without it fails with a coded error in words', async ({ page }) => {
  await page.goto('/');
  await readProbe(page);
  const e = await explainError(page, { model: 'tiny-gpt2', backend: 'webgpu' });
  expect(e.code).toBe('BACKEND_FAILED');
  expect(e.text).toContain('WebGPU is not available');
});
