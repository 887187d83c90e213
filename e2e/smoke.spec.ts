import { expect, test } from '@playwright/test';
import { collectErrors, readProbe, runSmoke } from './page';
import { maxAbsDiff, referenceLogits } from './reference';

const TOL = 1e-3;

test('probe finds the SwiftShader WebGPU adapter in the worker', async ({ page }) => {
  await page.goto('/');
  const probe = await readProbe(page);
  expect(probe.webgpu, probe.reason).toBe(true);
  expect(probe.adapter?.toLowerCase()).toContain('swiftshader');
  expect(probe.shaderF16).toBe(false); // SwiftShader has no shader-f16: fp16 models must be refused
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
});

test('smoke model gives the same logits on webgpu, wasm and onnxruntime-node', async ({ page }, testInfo) => {
  const errors = collectErrors(page);
  await page.goto('/');
  expect((await readProbe(page)).webgpu).toBe(true);

  const gpu = await runSmoke(page, 'webgpu');
  const wasm = await runSmoke(page, 'wasm');
  const ref = await referenceLogits();

  for (const r of [gpu, wasm]) {
    expect(r.outputNames).toEqual(['logits']);
    expect(r.dims).toEqual([1, 4, 50]);
    expect(r.crossOriginIsolated).toBe(true);
    expect(r.wasmThreads).toBeGreaterThan(1); // pthreads were started from the worker bundle
  }
  expect(maxAbsDiff(gpu.logitsHead, wasm.logitsHead)).toBeLessThan(TOL);
  expect(maxAbsDiff(gpu.logitsLast, wasm.logitsLast)).toBeLessThan(TOL);
  expect(maxAbsDiff(wasm.logitsHead, ref.head)).toBeLessThan(TOL);
  expect(maxAbsDiff(wasm.logitsLast, ref.last)).toBeLessThan(TOL);
  expect(maxAbsDiff(gpu.logitsLast, ref.last)).toBeLessThan(TOL);

  await page.screenshot({ path: testInfo.outputPath('smoke.png'), fullPage: true });
  await testInfo.attach('smoke.png', { path: testInfo.outputPath('smoke.png'), contentType: 'image/png' });
  expect(errors).toEqual([]);
});

test('worker errors cross the RPC boundary with name and message', async ({ page }) => {
  await page.goto('/?model=test-assets/missing.onnx');
  await readProbe(page);
  await page.getByTestId('backend-select').selectOption('wasm');
  await page.getByRole('button', { name: 'Run smoke model' }).click();
  const out = page.getByTestId('smoke-result');
  await expect(out).toHaveAttribute('data-state', 'error');
  await expect(out).toHaveAttribute('data-error-name', 'Error');
  await expect(out).toContainText(/missing\.onnx|404|failed/i);
});
