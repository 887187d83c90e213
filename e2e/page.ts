import { expect, type Page } from '@playwright/test';
import type { Backend, ProbeResult, SmokeResult } from '../src/protocol/engine-api';

export async function readProbe(page: Page): Promise<ProbeResult> {
  const badge = page.getByTestId('backend-badge');
  await expect(badge).not.toHaveAttribute('data-state', 'pending');
  return JSON.parse((await badge.getAttribute('data-probe')) ?? 'null') as ProbeResult;
}

export async function runSmoke(page: Page, backend: Backend): Promise<SmokeResult> {
  await page.getByTestId('backend-select').selectOption(backend);
  await page.getByRole('button', { name: 'Run smoke model' }).click();
  const out = page.getByTestId('smoke-result');
  await expect(out).toHaveAttribute('data-state', /done|error/);
  const state = await out.getAttribute('data-state');
  if (state === 'error') throw new Error(`smoke run on ${backend} failed: ${await out.textContent()}`);
  return JSON.parse((await out.getAttribute('data-result'))!) as SmokeResult;
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
