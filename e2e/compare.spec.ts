import { readFileSync } from 'node:fs';
import { expect, type Page, test } from '@playwright/test';
import { choose, clickAndWait, collectErrors, explainOnPage, openFresh, screenshot, shownExplanation, waitIdle } from './page';
import { PROMPT, TARGET } from './reference';
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explainComparison } from '../src/runtime/compare/comparison-methods';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import { folderSource } from '../src/runtime/sources/folder-source';
import type { GradientMethod } from '../src/runtime/schema';

// Compare, faithfulness, the document-QA preset and steering in the page (the WASM project:
// see playwright.config.ts): the random-weight tiny-gpt2 where only the mechanics matter, the trained demo
// model where the answer is known.
const DEMO = 'public/models/atman-demo-facts';
const demoExamples = (): Array<{ prompt: string; target: string; evidence: string }> => JSON.parse(readFileSync(`${DEMO}/examples.json`, 'utf8'));
/** The document the document-QA preset loads: the demo's longest (most sentences). */
const sentences = (t: string): number => t.split(/[.?!](?:\s|$)/).filter((x) => x.trim()).length;
const documentExample = () => demoExamples().reduce((best, e) => (sentences(e.prompt) > sentences(best.prompt) ? e : best));

async function tinySetup(page: Page, fixture = 'tiny-gpt2', search = '?test'): Promise<void> {
  await openFresh(page, search);
  await choose(page, { fixture });
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('target').fill(TARGET);
}

const valueOf = async (page: Page, testId: string): Promise<number> => Number(await page.getByTestId(testId).getAttribute('data-value'));

/** AOPC, ABPC and the random ABPC of one faithfulness block: numbers in [-1, 1]. */
async function faithNumbers(page: Page, prefix: string): Promise<{ aopc: number; abpc: number; randomAbpc: number }> {
  const out = { aopc: await valueOf(page, `${prefix}-aopc`), abpc: await valueOf(page, `${prefix}-abpc`), randomAbpc: await valueOf(page, `${prefix}-random-abpc`) };
  for (const [k, v] of Object.entries(out)) {
    expect(Number.isFinite(v), `${prefix} ${k} = ${v}`).toBe(true);
    expect(v, `${prefix} ${k}`).toBeGreaterThanOrEqual(-1);
    expect(v, `${prefix} ${k}`).toBeLessThanOrEqual(1);
  }
  return out;
}

// The first two tests share one page: the second runs the gradient methods on the model and the
// result the first one loaded and left on it (serial: it is skipped when the first fails).
test.describe.serial('Compare on the demo model, one page', () => {
  let page: Page;
  let errors: string[];
  test.beforeAll(async ({ browser }) => {
    page = await browser.newPage();
    errors = collectErrors(page);
  });
  test.afterAll(async () => page.context().close());

  test('compare AtMan with occlusion and rollout over the same units, measure both sides; reload and a link keep it all', async ({ browser }, testInfo) => {
    // The trained demo model, so the target is likely and the curves have something to show.
    await openFresh(page);
    // the preset loads the demo's document and explains it in the same click
    await clickAndWait(page, 'preset-document-qa');
    const x = await shownExplanation(page);
    await page.getByTestId('compare-method').selectOption('occlusion-delete');
    await clickAndWait(page, 'compare');
    await expect(page.getByTestId('error')).toBeEmpty();
    await expect(page.getByTestId('compare-panel')).toHaveAttribute('data-state', 'done');
    const left = page.getByTestId('compare-side-primary');
    const right = page.getByTestId('compare-side-comparison');
    await expect(left).toHaveAttribute('data-method', 'atman');
    await expect(right).toHaveAttribute('data-method', 'occlusion-delete');
    await expect(left.getByTestId('prompt-heatmap')).toBeVisible();
    await expect(right.getByTestId('prompt-heatmap')).toBeVisible();
    await expect(left.getByTestId('unit')).toHaveCount(x.units.length);
    await expect(right.getByTestId('unit')).toHaveCount(x.units.length);
    await expect(page.getByTestId('compare-sign-comparison')).toContainText('deleted from the input');
    // Occlusion deletes tokens, AtMan only weakens their attention: the scores differ.
    const scores = async (side: typeof left) => (await side.getByTestId('unit').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-score')))));
    expect(await scores(left)).toEqual(x.units.map((u) => u.score));
    expect(await scores(right)).not.toEqual(x.units.map((u) => u.score));
    // One shared colour scale, or each side to its own max.
    const maxes = () => page.getByTestId('compare-scale-bar').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-max'))));
    const own = await maxes();
    await page.getByTestId('compare-scale-shared').check();
    const shared = await maxes();
    expect(shared[0]).toBe(shared[1]);
    expect(shared[0]).toBe(Math.max(...own));

    await page.getByTestId('compare-method').selectOption('rollout');
    await clickAndWait(page, 'compare');
    await expect(right).toHaveAttribute('data-method', 'rollout');
    await expect(page.getByTestId('compare-sign-comparison')).toContainText('not a change in cross-entropy');
    expect((await scores(right)).every((s) => s >= 0)).toBe(true);
    await screenshot(page, testInfo, 'compare-atman-rollout.png');

    // Faithfulness of the shown result, then of the comparison.
    await clickAndWait(page, 'faithfulness-primary-measure');
    await expect(page.getByTestId('error')).toBeEmpty();
    const f = await faithNumbers(page, 'faithfulness-primary');
    await expect(page.getByTestId('faithfulness-primary-chart').locator('path.atman-faith-curve')).toHaveCount(4);
    await expect(page.getByTestId('progress')).toHaveAttribute('data-done', /^[1-9]\d*$/);
    await clickAndWait(page, 'compare-faithfulness-comparison-measure');
    const g = await faithNumbers(page, 'compare-faithfulness-comparison');
    // the compare view's primary side shows the same measurement
    expect(await faithNumbers(page, 'compare-faithfulness-primary')).toEqual(f);
    // AtMan's ranking (evidence sentence first) beats random rankings on this example.
    expect(f.abpc).toBeGreaterThan(f.randomAbpc);
    expect(f.aopc).toBeGreaterThan(0);
    console.log(`faithfulness on the demo model: AtMan AOPC ${f.aopc.toFixed(4)} ABPC ${f.abpc.toFixed(4)} (random ${f.randomAbpc.toFixed(4)}); rollout AOPC ${g.aopc.toFixed(4)} ABPC ${g.abpc.toFixed(4)}`);
    await screenshot(page, testInfo, 'faithfulness.png');

    await page.reload();
    await waitIdle(page);
    await expect(page.getByTestId('compare-side-comparison')).toHaveAttribute('data-method', 'rollout');
    expect(await faithNumbers(page, 'faithfulness-primary')).toEqual(f);
    expect(await faithNumbers(page, 'compare-faithfulness-comparison')).toEqual(g);

    await page.getByRole('button', { name: 'Copy link' }).click();
    const url = await page.getByTestId('share-url').inputValue();
    expect(url).toMatch(/&fa=/);
    const ctx = await browser.newContext();
    const fresh = await ctx.newPage();
    const freshErrors = collectErrors(fresh);
    await fresh.goto(url);
    await expect(fresh.getByTestId('compare-side-comparison')).toHaveAttribute('data-method', 'rollout');
    const linked = await faithNumbers(fresh, 'faithfulness-primary');
    // the link carries the numbers rounded to 4 decimals
    for (const k of ['aopc', 'abpc', 'randomAbpc'] as const) expect(Math.abs(linked[k] - f[k])).toBeLessThanOrEqual(5e-5);
    // and opens the comparison as it was shown: its scale, both measurements and their curves
    await expect(fresh.getByTestId('compare-scale-shared')).toBeChecked();
    const linkedComparison = await faithNumbers(fresh, 'compare-faithfulness-comparison');
    for (const k of ['aopc', 'abpc', 'randomAbpc'] as const) expect(Math.abs(linkedComparison[k] - g[k])).toBeLessThanOrEqual(5e-5);
    await expect(fresh.getByTestId('faithfulness-primary-chart').locator('path.atman-faith-curve')).toHaveCount(4);
    expect(freshErrors).toEqual([]);
    await ctx.close();
    expect(errors).toEqual([]);
  });

  test('AtMan beside input × gradient, integrated gradients and Chefer, each with its faithfulness areas, equal to the Node engine', async ({}, testInfo) => {
    // Three gradient sessions built on SwiftShader and three measurements: room on a busy CPU.
    test.slow();
    // The page the test above left: the demo model loaded, its document-QA result shown.
    const x = await shownExplanation(page);
    const right = page.getByTestId('compare-side-comparison');
    const scores = async () => right.getByTestId('unit').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-score'))));
    // Each equal to the Node engine's (onnxruntime-node, computed here) on the same inputs.
    const gradientsFrom = performance.now();
    const node = await AtmanModel.load(folderSource(DEMO), createNodeBackend(), { selfCheck: false });
    try {
      const gradientMethods: Array<[GradientMethod, number | undefined]> = [['input-x-gradient', undefined], ['integrated-gradients', 4], ['chefer', undefined]];
      for (const [method, steps] of gradientMethods) {
        await page.getByTestId('compare-method').selectOption(method);
        if (steps !== undefined) await page.getByTestId('compare-steps').fill(String(steps));
        await clickAndWait(page, 'compare');
        await expect(page.getByTestId('compare-error')).toHaveCount(0);
        await expect(right).toHaveAttribute('data-method', method);
        const shown = await scores();
        expect(shown.length, method).toBe(x.units.length);
        expect(shown.every(Number.isFinite), `${method}: ${shown}`).toBe(true);
        const ref = await explainComparison(node, { method, prompt: x.prompt, target: x.target, settings: x.settings, ...(steps !== undefined ? { steps } : {}) });
        const scale = Math.max(1, ...ref.units.map((u) => Math.abs(u.score)));
        const diff = Math.max(...shown.map((v, i) => Math.abs(v - ref.units[i]!.score)));
        expect(diff / scale, `${method}: page ${shown} vs Node ${ref.units.map((u) => u.score)}`).toBeLessThanOrEqual(1e-3);
        // its top unit is the Node engine's, shown first in the chart
        const best = ref.units.reduce((b, u, i) => (u.score > ref.units[b]!.score ? i : b), 0);
        await expect(right.locator('[data-testid="unit"][data-rank="1"]')).toHaveAttribute('data-unit', String(best));
        if (steps !== undefined) {
          await expect(page.getByTestId('compare-steps-comparison')).toHaveAttribute('data-value', String(steps));
          await expect(page.getByTestId('compare-completeness-comparison')).toBeVisible();
          // the gradient passes were counted as they ran
          await expect(page.getByTestId('progress')).toHaveAttribute('data-done', String(ref.passes));
        }
        await clickAndWait(page, 'compare-faithfulness-comparison-measure');
        await expect(page.getByTestId('error')).toBeEmpty();
        const g = await faithNumbers(page, 'compare-faithfulness-comparison');
        const areas = { deletion: await valueOf(page, 'compare-faithfulness-comparison-deletion-area'), insertion: await valueOf(page, 'compare-faithfulness-comparison-insertion-area') };
        for (const [k, v] of Object.entries(areas)) {
          expect(Number.isFinite(v) && v >= 0 && v <= 1, `${method} ${k} area = ${v}`).toBe(true);
          await expect(page.getByTestId(`compare-faithfulness-comparison-${k}-area`)).toBeVisible();
        }
        console.log(`${method} on the demo model: |page - Node| ${diff.toExponential(2)}; AOPC ${g.aopc.toFixed(4)} ABPC ${g.abpc.toFixed(4)} deletion area ${areas.deletion.toFixed(4)} insertion area ${areas.insertion.toFixed(4)}`);
      }
      console.log(`the three gradient methods, compared and measured: ${((performance.now() - gradientsFrom) / 1000).toFixed(1)} s`);
      await screenshot(page, testInfo, 'compare-atman-gradients.png');
    } finally {
      await node.release();
    }
    expect(errors).toEqual([]);
  });
});

test('a faithfulness run can be cancelled midway; the result stays', { tag: '@webgpu' }, async ({ page }) => {
  await tinySetup(page, 'tiny-gpt2', '?test&batch=1');
  const x = await explainOnPage(page);
  await page.getByTestId('faithfulness-primary-measure').click();
  await expect(page.getByTestId('status')).toContainText('Measuring faithfulness');
  await expect(page.getByTestId('progress')).toHaveAttribute('data-done', /^[1-9]\d*$/);
  await page.getByTestId('faithfulness-primary-cancel').click();
  await expect(page.getByTestId('error')).toHaveAttribute('data-error-code', 'CANCELLED');
  await waitIdle(page);
  await expect(page.getByTestId('faithfulness-primary')).toHaveAttribute('data-state', 'empty');
  expect((await shownExplanation(page)).units).toEqual(x.units);
});

test('raw attention of a fused-attention model is read from its rewritten attention', async ({ page }) => {
  await tinySetup(page, 'tiny-llama-gqa');
  await explainOnPage(page, { mode: 'log-additive' });
  await page.getByTestId('compare-method').selectOption('attention');
  await expect(page.getByTestId('compare-attention')).toBeVisible();
  await clickAndWait(page, 'compare');
  await expect(page.getByTestId('compare-error')).toHaveCount(0);
  await expect(page.getByTestId('compare-side-comparison')).toHaveAttribute('data-method', 'attention');
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'done');
});

test('the document-QA preset on the demo model ranks the evidence sentence first', async ({ page }, testInfo) => {
  await openFresh(page);
  await page.getByTestId('factor').fill('0.4');
  await page.getByTestId('prompt').fill('Some other text.');
  await clickAndWait(page, 'preset-document-qa');
  const ex = documentExample();
  await expect(page.getByTestId('prompt')).toHaveValue(ex.prompt);
  await expect(page.getByTestId('target')).toHaveValue(ex.target);
  await expect(page.getByTestId('granularity')).toHaveValue('sentence');
  await expect(page.getByTestId('factor')).toHaveValue('0');
  await expect(page.getByTestId('conceptual')).not.toBeChecked();
  await expect(page.getByTestId('target-granularity')).toHaveValue('complete');
  await expect(page.getByTestId('mode-select')).toHaveValue('multiplicative');
  await expect(page.getByTestId('preset-evidence')).toContainText(ex.evidence);
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'done');
  const x = await shownExplanation(page);
  expect(x.settings).toMatchObject({ factor: 0, kappa: null, granularity: { kind: 'sentence' } });
  const top = page.getByTestId('results-view').locator('[data-testid="unit"][data-rank="1"]');
  await expect(top).toContainText(ex.evidence);
  await screenshot(page, testInfo, 'document-qa.png');
});

test('steering: all factors 1 gives the plain generation; factor 0 on the evidence changes the answer; its link opens with both generations', { tag: '@webgpu' }, async ({ page, browser }, testInfo) => {
  const errors = collectErrors(page);
  await openFresh(page);
  const ex = documentExample();
  await clickAndWait(page, 'preset-document-qa');
  await page.getByTestId('steer-open').click();
  await page.getByTestId('steer-pick-unit').filter({ hasText: ex.evidence }).click();
  // a name from the example's second sentence: a part other than the evidence
  await page.getByTestId('steer-text').fill(ex.prompt.split('. ')[1]!.split(' ')[0]!);
  await page.getByTestId('steer-add-text').click();
  await expect(page.getByTestId('steer-unit')).toHaveCount(2);
  for (const input of await page.getByTestId('steer-factor-number').all()) await input.fill('1');
  await expect(page.getByTestId('steer-unit').first()).toHaveAttribute('data-factor', '1');
  await page.getByTestId('steer-max-tokens').fill('4');
  await clickAndWait(page, 'steer-generate');
  await expect(page.getByTestId('error')).toBeEmpty();
  const steered = page.getByTestId('steer-run-steered');
  const unsteered = page.getByTestId('steer-run-unsteered');
  const same = { steered: await steered.getAttribute('data-text'), unsteered: await unsteered.getAttribute('data-text') };
  expect(same.steered).toBe(same.unsteered);
  expect(same.unsteered!.trim().startsWith(ex.target.trim())).toBe(true);
  await expect(steered.locator('.atman-steer-differs')).toHaveCount(0);

  await page.getByTestId('steer-factor-number').first().fill('0');
  await clickAndWait(page, 'steer-generate');
  const off = await steered.getAttribute('data-text');
  expect(await unsteered.getAttribute('data-text')).toBe(same.unsteered);
  expect(off).not.toBe(same.unsteered);
  expect(off!.trim().startsWith(ex.target.trim())).toBe(false);
  const first = steered.getByTestId('steer-token').first();
  await expect(first).toHaveClass(/atman-steer-differs/);
  // the steered run's probability of the plain run's answer, on hover
  await expect(first).toHaveAttribute('title', new RegExp(`unsteered run's token "${ex.target}" gets [0-9.]+%`));
  await screenshot(page, testInfo, 'steering.png');
  // the steered generation and its parts travel in the link
  await page.getByRole('button', { name: 'Copy link' }).click();
  const url = await page.getByTestId('share-url').inputValue();
  expect(url).toMatch(/&st=/);
  await page.reload();
  await waitIdle(page);
  await expect(page.getByTestId('steer-run-steered')).toHaveAttribute('data-text', off!);
  await expect(page.getByTestId('steer-unit')).toHaveCount(2);
  // A receiver of the link sees the Steer panel open with both generations, as the sender did.
  const ctx = await browser.newContext();
  const fresh = await ctx.newPage();
  await fresh.goto(url);
  await expect(fresh.getByTestId('steer-panel')).toHaveAttribute('open', '');
  await expect(fresh.getByTestId('steer-run-steered')).toHaveAttribute('data-text', off!);
  await expect(fresh.getByTestId('steer-run-unsteered')).toHaveAttribute('data-text', same.unsteered!);
  await expect(fresh.getByTestId('steer-unit')).toHaveCount(2);
  await expect(fresh.getByTestId('steer-run-steered').getByTestId('steer-token').first()).toBeVisible();
  await ctx.close();
  expect(errors).toEqual([]);
});
