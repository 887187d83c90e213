import { expect, type Page, test } from '@playwright/test';
import { openAdvanced, screenshot, shownExplanation, waitIdle } from './page';

// The page as a class sees it: on a phone (390x844) and on a projector (1280x720). The first
// visit's demo, a share link opened on a phone, and the image demo's one click; screenshots of
// each at both sizes stay in the test output. Two tests, each reusing its page across sizes:
// every model load on SwiftShader costs seconds.
const PHONE = { width: 390, height: 844 };
// Two model loads and explanations per test: more than the default 2 minutes on a busy CPU.
test.describe.configure({ timeout: 300_000 });
const PROJECTOR = { width: 1280, height: 720 };

type Box = { x: number; y: number; width: number; height: number };
const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Nothing wider than the viewport: no sideways scrolling. */
async function expectNoOverflow(page: Page, where: string): Promise<void> {
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }));
  expect(m.scroll, `${where}: page ${m.scroll} px wide in a ${m.inner} px viewport`).toBeLessThanOrEqual(m.inner);
}

/** Top of an element in page coordinates (how far one scrolls to reach it). */
const pageTop = (page: Page, testId: string): Promise<number> => page.getByTestId(testId).evaluate((el) => el.getBoundingClientRect().top + scrollY);

async function expectPromptUsable(page: Page): Promise<void> {
  const prompt = page.getByTestId('prompt');
  await expect(prompt).toBeVisible();
  const box = (await prompt.boundingBox())!;
  expect(box.width, 'prompt box width').toBeGreaterThanOrEqual(0.8 * page.viewportSize()!.width - 40);
  expect(box.height).toBeGreaterThanOrEqual(80);
}

test('phone and projector: the first visit explains the demo; its share link opens on a phone with the result first', async ({ page, browser }, testInfo) => {
  // Watch the start-up: there must never be an empty prompt next to a live Explain button.
  await page.addInitScript(() => {
    const w = window as unknown as { __emptyAndEnabled: boolean };
    w.__emptyAndEnabled = false;
    const look = () => {
      const p = document.querySelector<HTMLTextAreaElement>('[data-testid="prompt"]');
      const b = document.querySelector<HTMLButtonElement>('[data-testid="explain"]');
      if (p && b && p.value === '' && !b.disabled) w.__emptyAndEnabled = true;
    };
    new MutationObserver(look).observe(document, { subtree: true, childList: true, attributes: true });
  });
  await page.setViewportSize(PHONE);
  await page.goto('/');
  await expect(page.getByTestId('result')).toHaveAttribute('data-explanation', /"schemaVersion"/, { timeout: 150_000 });
  await waitIdle(page);
  expect(await page.evaluate(() => (window as unknown as { __emptyAndEnabled: boolean }).__emptyAndEnabled), 'an empty prompt with Explain enabled').toBe(false);
  await expectNoOverflow(page, 'phone, demo explained');
  await expectPromptUsable(page);
  expect(await pageTop(page, 'explain'), 'Explain within a screen and a bit').toBeLessThan(1000);
  // Settings open at their basic view.
  await expect(page.getByTestId('settings-advanced')).not.toHaveAttribute('open', '');
  await expect(page.getByTestId('granularity')).toBeVisible();
  await expect(page.getByTestId('mode-select')).toBeHidden();
  await screenshot(page, testInfo, 'demo-390x844.png');
  await openAdvanced(page);
  await expectNoOverflow(page, 'phone, advanced settings open');

  // The projector: chart labels at their own size and uncut; the unit info covers nothing.
  await page.setViewportSize(PROJECTOR);
  await expectNoOverflow(page, 'projector, demo explained');
  const chart = await page.getByTestId('results-view').getByTestId('top-units-chart').evaluate((svg) => {
    const scale = svg.getBoundingClientRect().width / (svg as SVGSVGElement).viewBox.baseVal.width;
    const labels = [...svg.querySelectorAll('text.atman-bar-label')];
    return { px: labels.map((t) => Number(t.getAttribute('font-size')) * scale), text: labels.map((t) => t.textContent ?? '') };
  });
  expect(Math.min(...chart.px), 'chart label size in px').toBeGreaterThanOrEqual(14);
  expect(chart.text.filter((t) => t.endsWith('…')), 'cut chart labels').toEqual([]);
  const x = await shownExplanation(page);
  const top = x.units.reduce((b, u, i) => (u.score > x.units[b]!.score ? i : b), 0);
  await page.getByTestId('results-view').locator(`[data-testid="unit"][data-unit="${top}"]`).hover();
  const tip = (await page.getByTestId('unit-tooltip').boundingBox())!;
  const text = (await page.getByTestId('results-view').locator('.atman-heatmap-text').boundingBox())!;
  const legend = (await page.getByTestId('results-view').getByTestId('legend').boundingBox())!;
  expect(overlaps(tip, text), 'unit info over the heatmap text').toBe(false);
  expect(overlaps(tip, legend), 'unit info over the legend').toBe(false);
  await expect(page.getByTestId('unit-tooltip')).toContainText('rank 1 of');
  await screenshot(page, testInfo, 'demo-1280x720.png');

  // The share link, opened on a phone: the result first, the prompt readable and editable.
  await page.getByRole('button', { name: 'Copy link' }).click();
  const url = await page.getByTestId('share-url').inputValue();
  const ctx = await browser.newContext({ viewport: PHONE });
  const phone = await ctx.newPage();
  await phone.goto(url);
  await expect(phone.getByTestId('result')).toHaveAttribute('data-from-link', 'true', { timeout: 150_000 });
  await expect(phone.getByTestId('layout')).toHaveAttribute('data-result-first', 'true');
  expect(await pageTop(phone, 'result')).toBeLessThan(await pageTop(phone, 'prompt'));
  expect(await pageTop(phone, 'result'), 'the result on the first screen').toBeLessThan(PHONE.height / 2);
  await expectNoOverflow(phone, 'phone, opened link');
  await expectPromptUsable(phone);
  await screenshot(phone, testInfo, 'link-390x844.png');
  await phone.setViewportSize(PROJECTOR);
  await expectNoOverflow(phone, 'projector, opened link');
  await screenshot(phone, testInfo, 'link-1280x720.png');
  // editable while the model still loads
  await phone.getByTestId('prompt').fill(`${x.prompt} Edited.`);
  await expect(phone.getByTestId('stale')).toBeVisible();
  await ctx.close();
});

test('the image demo in one click: token units, no text result left, explained; at both sizes', async ({ page }, testInfo) => {
  await page.setViewportSize(PHONE);
  // A first visit: the text demo's result is on the page when the image demo is clicked.
  await page.goto('/');
  await expect(page.getByTestId('result')).toHaveAttribute('data-explanation', /"id":"atman-demo-facts"/, { timeout: 150_000 });
  await waitIdle(page);
  await page.getByTestId('try-shapes-demo').click();
  // The text result goes at once (it is another model's), never shown as stale under the picture model.
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'empty');
  await expect(page.getByTestId('result')).toHaveAttribute('data-explanation', /"id":"atman-demo-shapes"/, { timeout: 150_000 });
  await waitIdle(page);
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'done');
  const x = await shownExplanation(page);
  expect(x.settings.granularity).toEqual({ kind: 'token' });
  // each image token its own unit: the picture is many cells, not one flat colour
  expect(x.units.filter((u) => u.image !== undefined).length).toBeGreaterThan(4);
  await expect(page.getByTestId('image-cell').first()).toBeVisible();
  await expectNoOverflow(page, 'phone, image demo');
  await screenshot(page, testInfo, 'image-demo-390x844.png');
  await page.setViewportSize(PROJECTOR);
  await expectNoOverflow(page, 'projector, image demo');
  await screenshot(page, testInfo, 'image-demo-1280x720.png');
});
