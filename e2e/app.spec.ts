import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { Explanation } from '../src/protocol/engine-api';
import { collectErrors, collectForeignRequests, choose, explainError, explainOnPage, openAdvanced, openFresh, readProbe, runAndWait, screenshot, shownExplanation, waitIdle } from './page';
import { PROMPT, TARGET, nodeExplanation, scoreDiff } from './reference';

// The React playground in Chromium: tests tagged @webgpu with WebGPU on SwiftShader, the rest on
// WASM in a browser without WebGPU (playwright.config.ts).
// Scores computed in the browser must match the Node engine (onnxruntime-node) on the same model.
const TOL = 1e-3;
const DEMO = 'public/models/atman-demo-facts';
const demoExamples = (): Array<{ prompt: string; target: string; evidence: string }> => JSON.parse(readFileSync(`${DEMO}/examples.json`, 'utf8'));

/** Fills the texts and picks a test model, from a fresh page. */
async function tinySetup(page: import('@playwright/test').Page, fixture = 'tiny-gpt2', search = '?test'): Promise<void> {
  await openFresh(page, search);
  await choose(page, { fixture });
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('target').fill(TARGET);
}

test('default demo example: the evidence sentence scores highest, at 1280x720 and 1920x1080', { tag: '@webgpu' }, async ({ page, baseURL }, testInfo) => {
  const errors = collectErrors(page);
  const foreign = collectForeignRequests(page, baseURL!);
  await page.setViewportSize({ width: 1280, height: 720 });
  // A user's first visit (a fresh context, no `?test`): the page explains the demo example by itself.
  await page.goto('/');
  const ex = demoExamples()[0]!;
  await expect(page.getByTestId('prompt')).toHaveValue(ex.prompt);
  await expect(page.getByTestId('target')).toHaveValue(ex.target);
  // A first visit opens on the explanation itself: no click needed.
  await expect(page.getByTestId('result')).toHaveAttribute('data-explanation', /"schemaVersion"/, { timeout: 60_000 });
  const opened = await shownExplanation(page);
  expect(opened.settings.granularity).toEqual({ kind: 'sentence' });
  const openedBest = opened.units.reduce((b, u, i) => (u.score > opened.units[b]!.score ? i : b), 0);
  expect(opened.units[openedBest]!.label.trim()).toContain(ex.evidence.trim());
  await waitIdle(page);
  await openFresh(page);
  await page.getByTestId('granularity').selectOption('sentence');
  const x = await explainOnPage(page);
  console.log(`explain default demo example (sentence units) on ${x.model.backend} (${x.model.device}): ${x.seconds.toFixed(3)} s, ${x.passes} passes`);
  const best = x.units.reduce((b, u, i) => (u.score > x.units[b]!.score ? i : b), 0);
  expect(x.units[best]!.label.trim()).toContain(ex.evidence.trim());
  await screenshot(page, testInfo, 'default-explanation-1280x720.png');
  await page.setViewportSize({ width: 1920, height: 1080 });
  await screenshot(page, testInfo, 'default-explanation-1920x1080.png');
  // Token units: the top token lies inside the evidence sentence.
  await page.getByTestId('granularity').selectOption('token');
  const t = await explainOnPage(page);
  console.log(`explain default demo example (token units) on ${t.model.backend}: ${t.seconds.toFixed(3)} s, ${t.passes} passes`);
  const top = t.units.reduce((b, u, i) => (u.score > t.units[b]!.score ? i : b), 0);
  const start = ex.prompt.indexOf(ex.evidence);
  const tok = t.tokens[t.units[top]!.positions[0]!]!;
  expect(tok.start).toBeGreaterThanOrEqual(start);
  expect(tok.end).toBeLessThanOrEqual(start + ex.evidence.length + 1);
  // Drill down: from sentences (the toggle switches token units to sentences) to tokens inside the
  // strongest words, each token's score the full token-level run's, drawn inside its sentence.
  await page.getByTestId('drill-down').check();
  await expect(page.getByTestId('granularity')).toHaveValue('sentence');
  const d = await explainOnPage(page);
  expect(d.drillDown?.levels).toEqual(['sentence', 'word', 'token']);
  expect(d.passes).toBeLessThan(t.passes);
  const leaves = d.units.flatMap((s) => s.children ?? []).flatMap((w) => w.children ?? []);
  expect(leaves.length).toBeGreaterThan(0);
  for (const leaf of leaves) {
    const full = t.units.find((u) => u.positions.join() === leaf.positions.join())!;
    expect(Math.abs(leaf.score - full.score)).toBeLessThan(TOL * Math.max(1, Math.abs(full.score)));
  }
  await expect(page.getByTestId('prompt-heatmap').getByTestId('refined').first()).toBeVisible();
  await page.getByTestId('drill-down').uncheck();
  // The same default example on WASM, for the timing and the same answer.
  await choose(page, { backend: 'wasm' });
  await page.getByTestId('granularity').selectOption('sentence');
  const w = await explainOnPage(page);
  console.log(`explain default demo example (sentence units) on ${w.model.backend}: ${w.seconds.toFixed(3)} s, ${w.passes} passes`);
  expect(w.model.backend).toBe('wasm');
  expect(scoreDiff(w, x)).toBeLessThan(TOL * Math.max(1, ...x.units.map((u) => Math.abs(u.score))));
  expect(errors).toEqual([]);
  expect(foreign).toEqual([]);
});

test('prefix reuse and the score head on WebGPU give the scores of full recomputation, and say so', { tag: '@webgpu' }, async ({ page }) => {
  await tinySetup(page, 'tiny-gpt2-kv');
  await openAdvanced(page);
  await page.getByTestId('conceptual').uncheck();
  const fast = await explainOnPage(page, { backend: 'webgpu' });
  expect(fast.run).toMatchObject({ prefixReuse: 'used', scoreHead: true });
  expect(fast.run.rowsComputed).toBeLessThan(fast.run.rowsFullRecompute);
  await expect(page.getByTestId('results-summary')).toContainText('prefix reuse used');
  await page.getByTestId('prefix-reuse').uncheck();
  await page.getByTestId('score-head').uncheck();
  const full = await explainOnPage(page);
  expect(full.run).toMatchObject({ prefixReuse: 'off', scoreHead: false });
  expect(scoreDiff(fast, full)).toBeLessThan(1e-4);
});

test('tiny-gpt2 on WebGPU and WASM matches the Node engine; badge; nothing leaves the origin', { tag: '@webgpu' }, async ({ page, baseURL }, testInfo) => {
  const errors = collectErrors(page);
  const foreign = collectForeignRequests(page, baseURL!);
  await tinySetup(page);
  const probe = await readProbe(page);
  expect(probe.webgpu, probe.reason).toBe(true);
  expect(probe.shaderF16).toBe(false);
  await expect(page.getByTestId('backend-badge')).toHaveText(/^WebGPU: .*swiftshader/i);
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  for (const backend of ['webgpu', 'wasm'] as const) {
    const x = await explainOnPage(page, { backend });
    expect(x.model.backend).toBe(backend);
    // The fixture has fp32 and q4; with no precision chosen both backends take q4 (no shader-f16 here) and say why.
    expect([x.model.dtype, x.model.file]).toEqual(['q4', 'onnx/model_q4.onnx']);
    expect(x.model.dtypeReason).toMatch(backend === 'webgpu' ? /^auto for WebGPU without shader-f16/ : /^auto for WASM/);
    await expect(page.getByTestId('dtype-reason')).toContainText('onnx/model_q4.onnx: auto for');
    const ref = await nodeExplanation('tiny-gpt2', 'multiplicative', PROMPT, TARGET, x.model.dtype);
    expect(x.units.map((u) => u.label)).toEqual(ref.units.map((u) => u.label));
    expect(scoreDiff(x, ref), `${backend} vs node`).toBeLessThan(TOL);
    await expect(page.getByTestId('progress')).toHaveAttribute('data-done', String(x.passes));
    await expect(page.getByTestId('results-view')).toContainText('The cat sat on the mat.');
    console.log(`explain tiny-gpt2 on ${backend} (${x.model.device}): ${x.seconds.toFixed(3)} s, ${x.passes} passes`);
    await screenshot(page, testInfo, `tiny-gpt2-${backend}.png`);
  }
  expect(errors).toEqual([]);
  expect(foreign).toEqual([]);
});

test('fused attention is rewritten at load: both modes match Node, and the result says which attention ran', { tag: '@webgpu' }, async ({ page }, testInfo) => {
  await tinySetup(page, 'tiny-llama-gqa');
  for (const mode of ['multiplicative', 'log-additive'] as const) {
    const ref = await nodeExplanation('tiny-llama-gqa', mode);
    const x = await explainOnPage(page, { mode });
    expect(x.settings.mode).toBe(mode);
    expect(x.run.attention).toMatch(/GroupQueryAttention rewritten as standard ops/);
    // relative to the largest score, as for the demo model: WebGPU (SwiftShader) against CPU
    // arithmetic differed by 1.5e-3 at a largest score of 2.9 in multiplicative mode (WASM: 4.8e-6)
    expect(scoreDiff(x, ref)).toBeLessThan(TOL * Math.max(1, ...ref.units.map((u) => Math.abs(u.score))));
    await expect(page.getByTestId('error')).toBeEmpty();
  }
  await screenshot(page, testInfo, 'fused-attention-rewritten.png');
});

test('Cancel stops a run midway and keeps the prompt; the engine still works after', { tag: '@webgpu' }, async ({ page }, testInfo) => {
  // Also a second Explain during a run, and Cancel while another model loads.
  test.setTimeout(300_000);
  await tinySetup(page, 'tiny-gpt2', '?test&batch=1');
  const prompt = Array.from({ length: 6 }, () => PROMPT).join(' ');
  await page.getByTestId('prompt').fill(prompt);
  await page.getByRole('button', { name: 'Explain' }).click();
  const progress = page.getByTestId('progress');
  await expect(progress).toHaveAttribute('data-done', /^[1-9]\d*$/);
  await page.getByRole('button', { name: 'Cancel' }).click();
  const error = page.getByTestId('error');
  await expect(error).toHaveAttribute('data-error-code', 'CANCELLED');
  await expect(error).toContainText(/cancelled after \d+ of \d+ passes/i);
  await waitIdle(page);
  const done = Number(await progress.getAttribute('data-done'));
  const total = Number(await progress.getAttribute('data-total'));
  expect(done).toBeLessThan(total);
  await expect(page.getByTestId('prompt')).toHaveValue(prompt);
  await screenshot(page, testInfo, 'cancelled.png');
  await page.getByTestId('prompt').fill(PROMPT);
  const x = await explainOnPage(page);
  expect(x.passes).toBeGreaterThan(1);

  // A second Explain during a run cancels it and explains the prompt as it is now: one result, no error.
  const before = Number(await page.getByTestId('run-bar').getAttribute('data-finished-runs'));
  await page.getByTestId('prompt').fill(prompt);
  await page.getByRole('button', { name: 'Explain' }).click();
  await expect(progress).toHaveAttribute('data-done', /^[1-9]\d*$/);
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByRole('button', { name: 'Explain' }).click();
  await expect.poll(async () => Number(await page.getByTestId('run-bar').getAttribute('data-finished-runs')), { timeout: 110_000 }).toBe(before + 2);
  await waitIdle(page);
  await expect(page.getByTestId('error')).toBeEmpty();
  const second = await shownExplanation(page);
  expect(second.prompt).toBe(PROMPT);
  expect(scoreDiff(second, x)).toBeLessThan(1e-6);

  // Cancel while another model loads (its graph held back for a while): no run, the last result stays, the next Explain loads and runs.
  await page.route('**/fixtures/models/tiny-llama/onnx/*.onnx', async (route) => {
    await new Promise((r) => setTimeout(r, 3000));
    await route.continue();
  });
  await page.getByTestId('model-select').selectOption('fixture:tiny-llama');
  await expect(page.getByTestId('run-bar')).toHaveAttribute('data-status', 'loading');
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(error).toHaveAttribute('data-error-code', 'CANCELLED');
  await expect(error).toContainText('Loading the model was cancelled.');
  await waitIdle(page);
  await expect(page.getByTestId('prompt')).toHaveValue(PROMPT);
  expect((await shownExplanation(page)).prompt).toBe(PROMPT);
  await page.unroute('**/fixtures/models/tiny-llama/onnx/*.onnx');
  const llama = await explainOnPage(page);
  expect(llama.model.id).toContain('tiny-llama');
});

test('missing model files and bad hub ids show MODEL_FILES_MISSING in words', async ({ page }, testInfo) => {
  await tinySetup(page);
  const missing = await explainError(page, { custom: '/fixtures/models/nope/', backend: 'wasm' });
  expect(missing.code).toBe('MODEL_FILES_MISSING');
  expect(missing.text).toMatch(/missing config\.json, tokenizer\.json, any onnx\/\*\.onnx graph/);
  await screenshot(page, testInfo, 'error-banner-missing-model.png');
  const bad = await explainError(page, { custom: 'not a hub id!' });
  expect(bad.code).toBe('MODEL_FILES_MISSING');
  expect(bad.text).toMatch(/not a Hugging Face model id/);
  await expect(page.getByTestId('prompt')).toHaveValue(PROMPT);
});

test('reload keeps texts, choices, settings and the last result', async ({ page }) => {
  await tinySetup(page, 'tiny-llama');
  await page.getByTestId('target').fill(' The dog');
  const x = await explainOnPage(page, { mode: 'log-additive', backend: 'wasm' });
  await page.getByTestId('factor').fill('0.3');
  await page.reload();
  await waitIdle(page);
  await expect(page.getByTestId('prompt')).toHaveValue(PROMPT);
  await expect(page.getByTestId('target')).toHaveValue(' The dog');
  await expect(page.getByTestId('model-select')).toHaveValue('fixture:tiny-llama');
  await expect(page.getByTestId('mode-select')).toHaveValue('log-additive');
  await expect(page.getByTestId('backend-select')).toHaveValue('wasm');
  await expect(page.getByTestId('factor')).toHaveValue('0.3');
  await expect(page.getByTestId('stale')).toHaveText(/stale — settings changed/);
  expect((await shownExplanation(page)).units).toEqual(x.units);
});

test('Generate shows chips; dragging over them picks the target', async ({ page }) => {
  await tinySetup(page, 'tiny-gpt2');
  await page.getByTestId('generate-count').fill('6');
  await runAndWait(page, 'Generate');
  await expect(page.getByTestId('error')).toBeEmpty();
  const chips = page.getByTestId('generated-chip');
  const n = await chips.count();
  expect(n).toBeGreaterThan(1);
  const all = await page.getByTestId('target').inputValue();
  expect(all.length).toBeGreaterThan(0);
  // Drag from the second chip to the last: the first chip joins the prompt. The mouse reaches only
  // what is in the viewport.
  await page.getByTestId('generated-chips').scrollIntoViewIfNeeded();
  const first = await chips.nth(1).boundingBox();
  const last = await chips.nth(n - 1).boundingBox();
  await page.mouse.move(first!.x + 3, first!.y + 3);
  await page.mouse.down();
  await page.mouse.move(last!.x + 3, last!.y + 3, { steps: 5 });
  await page.mouse.up();
  await expect(page.locator('[data-testid="generated-chip"][aria-selected="true"]')).toHaveCount(n - 1);
  const target = await page.getByTestId('target').inputValue();
  const chipTexts = await chips.allTextContents();
  expect(all.endsWith(target), JSON.stringify({ all, target, chipTexts })).toBe(true);
  expect(await page.getByTestId('prompt').inputValue()).toBe(PROMPT + all.slice(0, all.length - target.length));
  // Keyboard: shift+left shrinks the span.
  await page.getByTestId('generated-chips').focus();
  await page.keyboard.press('Shift+ArrowLeft');
  await expect(page.locator('[data-testid="generated-chip"][aria-selected="true"]')).toHaveCount(n - 2);
  const x = await explainOnPage(page);
  expect(x.target).toBe(await page.getByTestId('target').inputValue());
});

test('a share link opens the same explanation in a fresh page, without recomputing', async ({ page, browser }, testInfo) => {
  await tinySetup(page);
  await page.getByTestId('target-granularity').selectOption('token');
  const x = await explainOnPage(page);
  await page.getByRole('button', { name: 'Copy link' }).click();
  const url = await page.getByTestId('share-url').inputValue();
  expect(url).toMatch(/#v=1&.*&x=/);
  expect(url.length).toBeLessThanOrEqual(8 * 1024);
  const ctx = await browser.newContext();
  const fresh = await ctx.newPage();
  const errors = collectErrors(fresh);
  let explains = 0;
  fresh.on('console', (m) => m.text().includes('explain') && explains++);
  await fresh.goto(url);
  await expect(fresh.getByTestId('result')).toHaveAttribute('data-from-link', 'true');
  const y = await shownExplanation(fresh);
  expect(y).toEqual(x);
  await expect(fresh.getByTestId('prompt')).toHaveValue(PROMPT);
  await expect(fresh.getByTestId('target-granularity')).toHaveValue('token');
  await expect(fresh.getByTestId('results-view')).toHaveText((await page.getByTestId('results-view').textContent())!);
  await expect(fresh.getByRole('button', { name: 'Recompute' })).toBeVisible();
  await waitIdle(fresh);
  await screenshot(fresh, testInfo, 'share-link-view.png');
  await screenshot(fresh, testInfo, 'per-token-matrix.png');
  expect(errors).toEqual([]);
  await ctx.close();
});

test('a malformed link shows a clear message and the default page, with no injected markup', async ({ page }, testInfo) => {
  const errors = collectErrors(page);
  await openFresh(page);
  const hostile = encodeURIComponent('"><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>');
  await page.goto('about:blank');
  await page.goto(`/?test#v=1&model=bundled:${hostile}&prompt=${hostile}&factor=lots&x=%%%not-base64`);
  await waitIdle(page);
  const notices = page.getByTestId('notices');
  await expect(notices).toContainText('no bundled model');
  await expect(notices).toContainText('factor');
  await expect(notices).toContainText('damaged');
  await expect(page.getByTestId('model-select')).toHaveValue('bundled:atman-demo-facts');
  // The hostile prompt is kept as text in the textarea, never as markup.
  await expect(page.getByTestId('prompt')).toHaveValue(decodeURIComponent(hostile));
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  await screenshot(page, testInfo, 'malformed-link.png');
  await page.goto('/?test#v=7&prompt=x');
  await expect(page.getByTestId('notices')).toContainText(/another version/);
  await page.goto('/?test#garbage');
  await expect(page.getByTestId('notices')).toContainText(/not an AtMan share link/);
  expect(errors.filter((e) => !/404|Failed to load resource/.test(e))).toEqual([]);
});

test('a model folder opened through the file picker loads and explains', async ({ page }) => {
  await tinySetup(page);
  await page.getByTestId('folder-input').setInputFiles('fixtures/models/tiny-gpt2');
  await waitIdle(page);
  await expect(page.getByTestId('model-info')).toContainText('tiny-gpt2');
  await expect(page.getByTestId('model-select')).toHaveValue('folder');
  const x = await explainOnPage(page);
  const ref = await nodeExplanation('tiny-gpt2', 'multiplicative', PROMPT, TARGET, x.model.dtype);
  expect(scoreDiff(x, ref)).toBeLessThan(TOL);
});

test('Export JSON downloads the engine schema', async ({ page }) => {
  await tinySetup(page);
  const x = await explainOnPage(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
  const json = JSON.parse(readFileSync((await download.path())!, 'utf8')) as Explanation;
  expect(json.schemaVersion).toBe(1);
  expect(json.sign).toMatch(/CE\(target \| unit suppressed\) - CE\(target \| unperturbed\)/);
  expect(json.tokens.length).toBe(x.tokens.length);
  expect(json.units.map((u) => u.score)).toEqual(x.units.map((u) => u.score));
  for (const k of ['prompt', 'target', 'baseline', 'settings', 'model', 'passes', 'seconds'] as const) expect(json).toHaveProperty(k);
  const [svg] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export SVG' }).click()]);
  expect(readFileSync((await svg.path())!, 'utf8')).toContain('<svg');
  const [png] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export PNG' }).click()]);
  expect(readFileSync((await png.path())!).subarray(1, 4).toString()).toBe('PNG');
});

test('a worker crash shows the banner in words and keeps prompt, settings and result', async ({ page }, testInfo) => {
  await tinySetup(page);
  await page.getByTestId('factor').fill('0.2');
  const x = await explainOnPage(page);
  await page.evaluate(() => (window as unknown as { __atmanTest: { crash(): void } }).__atmanTest.crash());
  const error = page.getByTestId('error');
  await expect(error).toHaveAttribute('data-error-code', 'WORKER_CRASHED');
  await expect(error).toContainText('The engine stopped unexpectedly');
  await expect(page.getByTestId('prompt')).toHaveValue(PROMPT);
  await expect(page.getByTestId('factor')).toHaveValue('0.2');
  expect((await shownExplanation(page)).units).toEqual(x.units);
  await screenshot(page, testInfo, 'error-banner-crash.png');
  const y = await explainOnPage(page);
  expect(scoreDiff(x, y)).toBeLessThan(1e-6);
});

test('hovering a token before a run shows what conceptual suppression drags along', async ({ page }) => {
  await tinySetup(page);
  await openAdvanced(page);
  await page.getByTestId('kappa').fill('0.1');
  const tokens = page.getByTestId('preview-token');
  await expect(tokens.first()).toBeVisible();
  // " cat" appears twice in the prompt: suppressing one drags the other along at any kappa < 1.
  await tokens.filter({ hasText: /^ cat$/ }).first().hover();
  await expect(page.getByTestId('drag-along')).toContainText(/also suppresses .*" cat"/);
  await expect(page.locator('[data-testid="preview-token"].dragged').first()).toBeVisible();
});

test('keyboard: the main buttons have accessible names and take focus', async ({ page }) => {
  await tinySetup(page);
  for (const name of ['Explain', 'Cancel', 'Generate', 'Copy link', 'Export JSON']) await expect(page.getByRole('button', { name })).toHaveCount(1);
  await page.getByTestId('prompt').focus();
  await page.keyboard.press('Tab');
  await expect(page.getByTestId('target')).toBeFocused();
});
