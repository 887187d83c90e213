import { expect, test } from '@playwright/test';
import { readProbe, runSmoke } from './page';
import { maxAbsDiff, referenceLogits } from './reference';

// Runs in the 'chromium-no-webgpu' project: Chromium without --enable-unsafe-webgpu.

test('without WebGPU the probe says so and WASM still runs', async ({ page }, testInfo) => {
  await page.goto('/');
  const probe = await readProbe(page);
  expect(probe.webgpu).toBe(false);
  expect(probe.reason).toBeTruthy();
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-state', 'wasm');

  const wasm = await runSmoke(page, 'wasm');
  const ref = await referenceLogits();
  expect(maxAbsDiff(wasm.logitsLast, ref.last)).toBeLessThan(1e-3);
  await page.screenshot({ path: testInfo.outputPath('no-webgpu.png'), fullPage: true });
});

test('asking for webgpu without it fails with a coded AtmanError across the boundary', async ({ page }) => {
  await page.goto('/');
  await readProbe(page);
  await page.getByTestId('backend-select').selectOption('webgpu');
  await page.getByRole('button', { name: 'Run smoke model' }).click();
  const out = page.getByTestId('smoke-result');
  await expect(out).toHaveAttribute('data-state', 'error');
  await expect(out).toHaveAttribute('data-error-name', 'AtmanError');
  await expect(out).toHaveAttribute('data-error-code', 'BACKEND_FAILED');
  await expect(out).toContainText('WebGPU is not available');
});
