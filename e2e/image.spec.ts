import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import sharp from 'sharp';
import type { Explanation } from '../src/protocol/engine-api';
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explain } from '../src/runtime/atman/explain';
import { decodeImage } from '../src/runtime/image/decode-image';
import { folderSource } from '../src/runtime/sources/folder-source';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import { formatScore } from '../src/ui/results/score-view';
import { collectErrors, choose, explainError, explainOnPage, openFresh, runAndWait, screenshot, shownExplanation, waitIdle } from './page';
import { scoreDiff } from './reference';

// Pictures in the playground (the Idefics3 test on WebGPU, the rest on
// WASM: see playwright.config.ts): the tiny Idefics3 fixture with a
// picture made here, the error banner for a file that is not a picture, the overlay (tiles, global
// frame, hover, keyboard, opacity), a drawn region, share link, reload, PNG export; and the bundled
// shapes demo, whose top image unit must lie on the asked shape.

const PROMPT = 'What is in this picture?';
const TARGET = ' the cat';
const DEMO = 'public/models/atman-demo-shapes';

/** A 50 x 30 PNG of four coloured quadrants (split by Idefics3 into 2 x 2 tiles and a global frame). */
async function quadrantsPng(w = 50, h = 30): Promise<Buffer> {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = x < w / 2 ? (y < h / 2 ? [220, 30, 30] : [30, 200, 40]) : y < h / 2 ? [30, 40, 220] : [240, 230, 20];
      data.set(c, (y * w + x) * 3);
    }
  }
  return sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

async function nodeImageExplanation(model: string, png: Buffer, prompt: string, target: string, regions: Array<{ left: number; top: number; width: number; height: number }> = []): Promise<Explanation> {
  const m = await AtmanModel.load(folderSource(model), createNodeBackend());
  try {
    const image = await decodeImage(new Uint8Array(png));
    return await explain(m, { prompt, target, image: { image, regions: regions.map((rect) => ({ kind: 'rect' as const, rect })) } });
  } finally {
    await m.release();
  }
}

async function pickImage(page: Page, name: string, buffer: Buffer, mimeType = 'image/png'): Promise<void> {
  await page.getByTestId('image-file').setInputFiles({ name, mimeType, buffer });
}

/** A fresh page whose start-up load is over (a model picked while it runs would not be loaded). */
async function openStarted(page: Page): Promise<void> {
  await openFresh(page);
  await expect(page.getByTestId('model-info')).toBeVisible();
  await waitIdle(page);
}

async function idefics3Setup(page: Page): Promise<Buffer> {
  await openStarted(page);
  await choose(page, { fixture: 'tiny-idefics3' });
  await expect(page.getByTestId('model-info')).toContainText('reads a picture');
  const png = await quadrantsPng();
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('target').fill(TARGET);
  await pickImage(page, 'quadrants.png', png);
  await expect(page.getByTestId('image-info')).toContainText('quadrants.png · 50 × 30 px');
  // An in-sequence model reads the picture where the prompt says <image>: added at the start.
  await expect(page.getByTestId('prompt')).toHaveValue(`<image>${PROMPT}`);
  return png;
}

const overlap = (a: { left: number; top: number; width: number; height: number }, b: typeof a): number =>
  Math.max(0, Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top));

test('tiny-idefics3: upload a picture, explain, the tiles over the picture match the Node engine; hover and keys give score and rank', { tag: '@webgpu' }, async ({ page }, testInfo) => {
  const errors = collectErrors(page);
  const png = await idefics3Setup(page);
  const x = await explainOnPage(page);
  // The same units, regions and scores as the Node engine: the engine resizes the picture with its
  // own filter, so the browser's processor sees the same pixels as Node's.
  const ref = await nodeImageExplanation('fixtures/models/tiny-idefics3', png, `<image>${PROMPT}`, TARGET);
  expect(x.units.map((u) => [u.label, u.region])).toEqual(ref.units.map((u) => [u.label, u.region]));
  console.log(`tiny-idefics3 with a 50x30 picture on ${x.model.backend}: ${x.passes} passes in ${x.seconds.toFixed(2)} s; largest score difference to Node ${scoreDiff(x, ref).toFixed(5)}`);
  expect(scoreDiff(x, ref)).toBeLessThan(1e-3 * Math.max(1, ...ref.units.map((u) => Math.abs(u.score))));
  expect(x.image).toMatchObject({ width: 50, height: 30, placement: 'sequence' });

  // One image chip in the text instead of the processor's dozens of tokens.
  await expect(page.getByTestId('image-chip')).toHaveCount(1);
  await expect(page.getByTestId('image-chip')).toHaveText(`image · ${x.image!.tokens.length} tokens`);

  // The overlay: every tile unit by default, the global frame on request.
  const heat = page.getByTestId('image-heatmap');
  const tiles = x.units.filter((u) => u.image !== undefined && u.label.startsWith('tile '));
  expect(tiles.length).toBe(16);
  await expect(heat).toHaveAttribute('data-frames', 'tiles');
  const cells = page.getByTestId('image-cell');
  await expect(cells).toHaveCount(tiles.length);
  await expect(page.getByTestId('image-under-overlay')).toBeVisible();
  await page.getByTestId('image-grey').check();
  await screenshot(page, testInfo, 'image-overlay-tiles.png');

  // Hover a cell: its label, score and rank.
  const cell = cells.nth(5);
  const u = Number(await cell.getAttribute('data-unit'));
  await cell.hover();
  const tip = page.getByTestId('image-tooltip');
  await expect(tip).toContainText(x.units[u]!.label);
  await expect(page.getByTestId('image-tooltip-score')).toHaveText(formatScore(x.units[u]!.score, 4));
  await expect(tip).toContainText(`rank ${await cell.getAttribute('data-rank')} of ${x.units.length} units`);
  // The cell sits where its region is on the displayed picture.
  const stage = (await page.getByTestId('image-stage').boundingBox())!;
  const box = (await cell.boundingBox())!;
  const r = x.units[u]!.region!;
  expect(Math.abs(box.x - stage.x - (r.left * stage.width) / 50)).toBeLessThan(2.5);
  expect(Math.abs(box.y - stage.y - (r.top * stage.height) / 30)).toBeLessThan(2.5);
  expect(Math.abs(box.width - (r.width * stage.width) / 50)).toBeLessThan(4);
  // Keyboard: focus a cell, Enter selects it.
  await page.mouse.move(0, 0);
  await cells.first().focus();
  await expect(tip).toContainText(x.units[Number(await cells.first().getAttribute('data-unit'))]!.label);
  await page.keyboard.press('Enter');
  await expect(cells.first()).toHaveAttribute('aria-pressed', 'true');

  await heat.getByLabel(/global/).check();
  await expect(heat).toHaveAttribute('data-frames', 'global');
  await expect(cells).toHaveCount(4);
  await page.getByTestId('image-opacity').fill('0.3');
  await expect(cells.first().locator('rect').first()).toHaveAttribute('fill-opacity', '0.3');
  // The legend shows the text heatmap's scale.
  await expect(page.getByTestId('image-legend-max')).toHaveText((await page.getByTestId('legend-max').textContent())!);
  await screenshot(page, testInfo, 'image-overlay-global.png');

  // Per target token: the picture shows R[u, t] of the chosen token.
  await page.getByTestId('image-target').selectOption('1');
  await expect(cells.first()).toHaveAttribute('data-score', String(x.units[Number(await cells.first().getAttribute('data-unit'))]!.perTarget[1]));

  // PNG of the overlay with its legend.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-image-png').click()]);
  expect(download.suggestedFilename()).toMatch(/-image\.png$/);
  const bytes = readFileSync((await download.path())!);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const meta = await sharp(bytes).metadata();
  expect(meta.width).toBeGreaterThan(500);
  expect(errors).toEqual([]);
});

test('a drawn region is explained as one more unit and highlighted; share link and reload keep the picture', async ({ page, browser }, testInfo) => {
  const errors = collectErrors(page);
  const png = await idefics3Setup(page);
  await explainOnPage(page);
  await page.getByTestId('image-draw').click();
  await expect(page.getByTestId('image-draw')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('image-stage')).toHaveClass(/drawing/);
  // The mouse moves in viewport coordinates: the picture must be on screen.
  await page.getByTestId('image-stage').scrollIntoViewIfNeeded();
  const stage = (await page.getByTestId('image-stage').boundingBox())!;
  // the right half of the picture, top to bottom
  await page.mouse.move(stage.x + stage.width * 0.6, stage.y + stage.height * 0.1);
  await page.mouse.down();
  await page.mouse.move(stage.x + stage.width * 0.95, stage.y + stage.height * 0.9, { steps: 6 });
  await page.mouse.up();
  await expect(page.getByTestId('image-brush')).toHaveCount(1);
  await runAndWait(page, 'Explain region');
  await expect(page.getByTestId('error')).toBeEmpty();
  const x = await shownExplanation(page);
  const k = x.units.findIndex((u) => u.label === 'drawn region 1');
  expect(k).toBeGreaterThanOrEqual(0);
  const region = page.getByTestId('image-region-unit');
  await expect(region).toHaveAttribute('data-unit', String(k));
  await expect(region).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('unit-details')).toContainText('drawn region 1');
  // The same rectangle through the Node engine covers the same image tokens.
  const st = await page.evaluate(() => (window as unknown as { __atmanTest: { store: { getState(): { imageRegions: unknown[] } } } }).__atmanTest.store.getState().imageRegions);
  expect(st).toHaveLength(1);
  const ref = await nodeImageExplanation('fixtures/models/tiny-idefics3', png, `<image>${PROMPT}`, TARGET, st as never);
  expect([x.units[k]!.imageTokens, x.units[k]!.region]).toEqual([ref.units[k]!.imageTokens, ref.units[k]!.region]);
  // drawn over the right half: only tokens of the right-hand tiles and of the global frame's right column
  expect(x.units[k]!.region!.left).toBeGreaterThanOrEqual(25);
  await screenshot(page, testInfo, 'image-drawn-region.png');

  // Share link: the small picture travels in the link, with the result and the region.
  await page.getByRole('button', { name: 'Copy link' }).click();
  await expect(page.locator('.share-link')).toContainText('The image is in the link.');
  const url = await page.getByTestId('share-url').inputValue();
  expect(url).toMatch(/[&#]img=/);
  expect(url).toMatch(/[&#]irg=/);
  const ctx = await browser.newContext();
  const fresh = await ctx.newPage();
  await fresh.goto(url);
  await waitIdle(fresh);
  await expect(fresh.getByTestId('image-info')).toContainText('50 × 30 px');
  await expect(fresh.getByTestId('image-under-overlay')).toBeVisible();
  const y = await shownExplanation(fresh);
  expect(y.units.map((u) => u.score)).toEqual(x.units.map((u) => u.score));
  await ctx.close();

  // Reload: the picture, its regions and the result are still there.
  await page.reload();
  await waitIdle(page);
  await expect(page.getByTestId('image-info')).toContainText('quadrants.png · 50 × 30 px');
  await expect(page.getByTestId('image-region-unit')).toHaveCount(1);
  await expect(page.getByTestId('image-under-overlay')).toBeVisible();
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'done');
  expect(errors).toEqual([]);
});

test('picture errors in words: not a picture, an unreachable address; paste and drop take pictures', async ({ page }, testInfo) => {
  await openStarted(page);
  await choose(page, { fixture: 'tiny-idefics3' });
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('target').fill(TARGET);
  await pickImage(page, 'notes.txt', Buffer.from('Shopping list: milk, eggs, bread.\n'), 'text/plain');
  const err = await explainError(page);
  expect(err.code).toBe('IMAGE_NOT_AN_IMAGE');
  expect(err.text).toMatch(/"notes\.txt" is not an image \(it looks like text\)/);
  await screenshot(page, testInfo, 'image-error-not-an-image.png');

  // An address that cannot be read: said in words, no crash.
  await page.getByTestId('image-url').fill('http://127.0.0.1:9/picture.png');
  await page.getByTestId('image-url-load').click();
  await expect(page.getByTestId('error')).toHaveAttribute('data-error-code', 'IMAGE_URL_FAILED');
  await expect(page.getByTestId('error')).toContainText(/could not be loaded.*CORS/);

  // Paste a picture (as a clipboard event carrying a file).
  const png = await quadrantsPng(20, 20);
  const b64 = png.toString('base64');
  await page.evaluate((data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'image.png', { type: 'image/png' }));
    document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
  }, b64);
  await expect(page.getByTestId('image-info')).toContainText('pasted image · 20 × 20 px');
  // Drop one on the drop zone.
  const dt = await page.evaluateHandle((data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const d = new DataTransfer();
    d.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    return d;
  }, (await quadrantsPng(40, 24)).toString('base64'));
  await page.getByTestId('image-drop').dispatchEvent('drop', { dataTransfer: dt });
  await expect(page.getByTestId('image-info')).toContainText('dropped.png · 40 × 24 px');
  const x = await explainOnPage(page);
  expect(x.image).toMatchObject({ width: 40, height: 24 });
  // Remove: the picture and the prompt's marker go.
  await page.getByTestId('image-clear').click();
  await expect(page.getByTestId('image-preview')).toHaveCount(0);
  await expect(page.getByTestId('prompt')).toHaveValue(PROMPT);
});

test('a captioner needs a picture; a large picture travels in the link as a reduced copy', async ({ page, browser }) => {
  await openStarted(page);
  await choose(page, { fixture: 'tiny-vit-gpt2' });
  await expect(page.getByTestId('model-info')).toContainText('describes pictures');
  await page.getByTestId('prompt').fill('a picture of');
  await page.getByTestId('target').fill(' the cat');
  const err = await explainError(page);
  expect(err.code).toBe('IMAGE_REQUIRED');
  expect(err.text).toMatch(/describes images: add an image/);
  // A noisy 300 x 200 PNG is far over the link's budget: a reduced JPEG goes instead.
  const w = 300;
  const h = 200;
  const noise = Buffer.alloc(w * h * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + ((i * i) % 251)) & 255;
  const big = await sharp(noise, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  expect(big.length).toBeGreaterThan(6 * 1024);
  await pickImage(page, 'noise.png', big);
  await expect(page.getByTestId('image-info')).toContainText('noise.png · 300 × 200 px');
  // a captioner's prompt gets no marker
  await expect(page.getByTestId('prompt')).toHaveValue('a picture of');
  const x = await explainOnPage(page);
  expect(x.image).toMatchObject({ width: 300, height: 200, placement: 'encoder' });
  await expect(page.getByTestId('image-cell')).toHaveCount(x.units.filter((u) => u.label.startsWith('image (')).length);
  await expect(page.getByTestId('image-whole-token')).toHaveCount(1);
  await page.getByRole('button', { name: 'Copy link' }).click();
  await expect(page.locator('.share-link')).toContainText('reduced copy of the image');
  const url = await page.getByTestId('share-url').inputValue();
  const p = new URLSearchParams(new URL(url).hash.slice(1));
  expect(Number(p.get('imgw')) / Number(p.get('imgh'))).toBeCloseTo(1.5, 1);
  expect(Number(p.get('imgw'))).toBeLessThan(300);
  const ctx = await browser.newContext();
  const fresh = await ctx.newPage();
  await fresh.goto(url);
  await waitIdle(fresh);
  await expect(fresh.getByTestId('image-info')).toContainText(`image from the link · ${p.get('imgw')} × ${p.get('imgh')} px`);
  await ctx.close();
});

test('the shapes demo: one click loads model, picture, question and answer; the top image unit lies on the asked shape', async ({ page }, testInfo) => {
  test.skip(!readFileSyncSafe(`${DEMO}/examples/examples.json`), 'the shapes demo is not built');
  const errors = collectErrors(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await openStarted(page);
  const examples = JSON.parse(readFileSync(`${DEMO}/examples/examples.json`, 'utf8')) as Array<{ image: string; width: number; prompt: string; answer: string; evidence: { left: number; top: number; width: number; height: number } }>;
  const ex = [...examples].sort((a, b) => a.width - b.width)[0]!;
  // One click: model, picture, texts, token units, and the explanation itself.
  await page.getByTestId('try-shapes-demo').click();
  await expect(page.getByTestId('result')).toHaveAttribute('data-explanation', /"id":"atman-demo-shapes"/, { timeout: 110_000 });
  await waitIdle(page);
  await expect(page.getByTestId('model-select')).toHaveValue('bundled:atman-demo-shapes');
  await expect(page.getByTestId('prompt')).toHaveValue(ex.prompt);
  await expect(page.getByTestId('target')).toHaveValue(ex.answer);
  await expect(page.getByTestId('image-info')).toContainText(`${ex.width} × ${ex.width} px`);
  await expect(page.getByTestId('result')).toHaveAttribute('data-state', 'done');
  const x = await shownExplanation(page);
  expect(x.settings.granularity).toEqual({ kind: 'token' });
  const ref = await nodeImageExplanation(DEMO, readFileSync(`${DEMO}/${ex.image}`), ex.prompt, ex.answer);
  console.log(`shapes demo on ${x.model.backend}: ${x.passes} passes in ${x.seconds.toFixed(2)} s; largest score difference to Node ${scoreDiff(x, ref).toFixed(5)}`);
  expect(scoreDiff(x, ref)).toBeLessThan(1e-3 * Math.max(1, ...ref.units.map((u) => Math.abs(u.score))));
  const images = x.units.filter((u) => u.image !== undefined);
  const top = images.reduce((b, u) => (u.score > b.score ? u : b));
  const r = top.region!;
  expect(overlap(r, ex.evidence), `top image unit ${top.label} ${JSON.stringify(r)} vs evidence ${JSON.stringify(ex.evidence)}`).toBeGreaterThanOrEqual(0.25 * r.width * r.height);
  // the top cell is drawn, and its tooltip says rank 1 among the picture's units
  const cell = page.locator(`[data-testid="image-cell"][data-unit="${x.units.indexOf(top)}"]`);
  await cell.hover();
  await expect(page.getByTestId('image-tooltip')).toContainText(`1st of ${images.length} in the picture`);
  await screenshot(page, testInfo, 'shapes-demo-1280.png');
  // Every example picture is offered for the demo.
  await expect(page.getByTestId('shapes-example').locator('option:not([disabled])')).toHaveCount(examples.length);
  expect(errors).toEqual([]);
});

function readFileSyncSafe(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}
