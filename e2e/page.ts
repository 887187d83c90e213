import { expect, type Page, type TestInfo } from '@playwright/test';
import type { BackendChoice, ControlMode, Explanation, GpuProbe } from '../src/protocol/engine-api';

export async function readProbe(page: Page): Promise<GpuProbe> {
  const badge = page.getByTestId('backend-badge');
  await expect(badge).not.toHaveAttribute('data-state', 'pending');
  return JSON.parse((await badge.getAttribute('data-probe')) ?? 'null') as GpuProbe;
}

export interface Choice {
  model?: string;
  /** hub id or base URL, for the 'custom' model choice */
  custom?: string;
  backend?: BackendChoice;
  mode?: ControlMode;
}

export async function choose(page: Page, c: Choice): Promise<void> {
  if (c.custom !== undefined) {
    await page.getByTestId('model-select').selectOption('custom');
    await page.getByTestId('custom-model').fill(c.custom);
  } else if (c.model) {
    await page.getByTestId('model-select').selectOption(c.model);
  }
  if (c.backend) await page.getByTestId('backend-select').selectOption(c.backend);
  if (c.mode) await page.getByTestId('mode-select').selectOption(c.mode);
}

/** Clicks Explain and waits for the result or the error. */
export async function explainOnPage(page: Page, c: Choice = {}): Promise<Explanation> {
  await choose(page, c);
  await page.getByRole('button', { name: 'Explain' }).click();
  const result = page.getByTestId('result');
  await expect(result).toHaveAttribute('data-state', /^(done|error)$/);
  if ((await result.getAttribute('data-state')) === 'error') {
    throw new Error(`explain failed: ${await page.getByTestId('error').textContent()}`);
  }
  return JSON.parse((await result.getAttribute('data-explanation'))!) as Explanation;
}

/** Waits for the run to end in an error and returns its words. */
export async function explainError(page: Page, c: Choice = {}): Promise<{ text: string; code: string | null }> {
  await choose(page, c);
  await page.getByRole('button', { name: 'Explain' }).click();
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'error');
  const err = page.getByTestId('error');
  return { text: (await err.textContent()) ?? '', code: await err.getAttribute('data-error-code') };
}

export async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(name);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/** Fails the test on uncaught page/worker errors, which would otherwise only show as a hang. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}
