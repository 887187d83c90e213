import { expect, type Page, type TestInfo } from '@playwright/test';
import type { BackendChoice, ControlMode, Explanation, GpuProbe } from '../src/protocol/engine-api';

export async function readProbe(page: Page): Promise<GpuProbe> {
  const badge = page.getByTestId('backend-badge');
  await expect(badge).not.toHaveAttribute('data-state', 'pending');
  return JSON.parse((await badge.getAttribute('data-probe')) ?? 'null') as GpuProbe;
}

/** Fresh page: no saved state, no link. `search` e.g. '?test&batch=1'. */
export async function openFresh(page: Page, search = '?test'): Promise<void> {
  // A page that never left about:blank belongs to a new browser context, whose storage is empty:
  // opening the app once saves a model load. Otherwise the saved state is cleared and the app reopened.
  if (page.url() !== 'about:blank') {
    await page.goto(`/${search}`);
    await page.evaluate(() => localStorage.clear());
  }
  await page.goto(`/${search}`);
  await waitIdle(page);
}

/** Waits until no load, run or generation is going on. */
export async function waitIdle(page: Page): Promise<void> {
  await expect(page.getByTestId('run-bar')).toHaveAttribute('data-status', 'idle');
}

const finishedRuns = async (page: Page): Promise<number> => Number(await page.getByTestId('run-bar').getAttribute('data-finished-runs'));

/** Clicks a button that starts a run and waits for that run to be over (done or failed). */
export async function runAndWait(page: Page, button: string): Promise<void> {
  await waitIdle(page);
  const before = await finishedRuns(page);
  await page.getByRole('button', { name: button, exact: true }).click();
  await expect.poll(() => finishedRuns(page), { timeout: 110_000 }).toBeGreaterThan(before);
  await waitIdle(page);
}

/** Clicks the element with this test id, which starts a run, and waits for that run to be over. */
export async function clickAndWait(page: Page, testId: string): Promise<void> {
  await waitIdle(page);
  const before = await finishedRuns(page);
  await page.getByTestId(testId).click();
  await expect.poll(() => finishedRuns(page), { timeout: 110_000 }).toBeGreaterThan(before);
  await waitIdle(page);
}

/** Unfolds the Advanced settings (the page opens with them folded). */
export async function openAdvanced(page: Page): Promise<void> {
  const details = page.getByTestId('settings-advanced');
  if (!(await details.evaluate((el) => (el as HTMLDetailsElement).open))) await page.getByTestId('settings-advanced-open').click();
  await expect(details).toHaveAttribute('open', '');
}

export interface Choice {
  /** a test model (fixtures/models/<name>) */
  fixture?: string;
  /** hub id or base URL */
  custom?: string;
  backend?: BackendChoice;
  mode?: ControlMode;
}

export async function choose(page: Page, c: Choice): Promise<void> {
  if (c.backend) await page.getByTestId('backend-select').selectOption(c.backend);
  if (c.custom !== undefined) {
    await page.getByTestId('model-select').selectOption('custom');
    await page.getByTestId('custom-model').fill(c.custom);
    await page.getByRole('button', { name: 'Use model' }).click();
  } else if (c.fixture) {
    await page.getByTestId('model-select').selectOption(`fixture:${c.fixture}`);
  }
  await waitIdle(page);
  if (c.mode) {
    await openAdvanced(page);
    await page.getByTestId('mode-select').selectOption(c.mode);
  }
}

/** The explanation the page shows (data-explanation on the results pane). */
export async function shownExplanation(page: Page): Promise<Explanation> {
  return JSON.parse((await page.getByTestId('result').getAttribute('data-explanation'))!) as Explanation;
}

/** Clicks Explain and waits for a fresh result (or throws with the error banner's words). */
export async function explainOnPage(page: Page, c: Choice = {}): Promise<Explanation> {
  await choose(page, c);
  await runAndWait(page, 'Explain');
  const code = await page.getByTestId('error').getAttribute('data-error-code');
  if (code) throw new Error(`explain failed: ${await page.getByTestId('error').textContent()}`);
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'done');
  return shownExplanation(page);
}

/** Clicks Explain, waits for the run to end in an error and returns its words and code. */
export async function explainError(page: Page, c: Choice = {}): Promise<{ text: string; code: string | null }> {
  await choose(page, c);
  await runAndWait(page, 'Explain');
  const err = page.getByTestId('error');
  await expect(err).toHaveAttribute('data-error-code', /.+/);
  return { text: (await err.textContent()) ?? '', code: await err.getAttribute('data-error-code') };
}

export async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<string> {
  const path = testInfo.outputPath(name);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
  return path;
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

/** Every request must stay on this origin (blob: and data: are local). */
export function collectForeignRequests(page: Page, baseURL: string): string[] {
  const foreign: string[] = [];
  page.context().on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(baseURL) && !u.startsWith('blob:') && !u.startsWith('data:')) foreign.push(u);
  });
  return foreign;
}
