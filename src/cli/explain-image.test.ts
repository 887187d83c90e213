import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAtmanError } from '../core/errors';
import type { Rect } from '../core/image-regions';
import { main, parseRegion } from './explain';

const dir = mkdtempSync(join(tmpdir(), 'atman-cli-image-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = promisify(execFile);
const tsx = join('node_modules', '.bin', 'tsx');
const PNG = join(dir, 'quadrants.png');
const REGION: Rect = { left: 3, top: 2, width: 20, height: 10 };

beforeAll(async () => {
  // 50x30, four flat quadrants: wide enough for Idefics3 to split it into tiles
  const [W, H] = [50, 30];
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) data.set([[220, 30, 30], [30, 40, 220], [30, 200, 40], [240, 230, 20]][(x < 25 ? 0 : 1) + (y < 15 ? 0 : 2)]!, (y * W + x) * 3);
  }
  await sharp(data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(PNG);
  writeFileSync(join(dir, 'notes.png'), 'a text file with an image name\n');
});

const overlaps = (a: Rect, b: Rect) =>
  Math.min(a.left + a.width, b.left + b.width) > Math.max(a.left, b.left) && Math.min(a.top + a.height, b.top + b.height) > Math.max(a.top, b.top);

interface JsonUnit {
  label: string;
  positions: number[];
  score: number;
  image?: number;
  region?: Rect;
  imageTokens?: number[];
}

const failure = (e: unknown) => e as { code: number; stderr: string };

describe('npm run explain --image (spawned)', () => {
  it('tiny-vit-gpt2: a caption over an image with a drawn region', async () => {
    const file = join(dir, 'vit.json');
    const { stdout } = await run(tsx, ['src/cli/explain.ts', '--model', 'fixtures/models/tiny-vit-gpt2', '--image', PNG, '--prompt', 'a picture of',
      '--target', ' the cat', '--region', '3,2,20,10', '--kappa', 'off', '--json', file]);
    expect(stdout).toMatch(/image 50x30 png: 17 image tokens in the encoder output, read through cross-attention; 18 image units/);
    expect(stdout).toMatch(/"drawn region 1"\s+0,0 25x15/);
    expect(stdout).toMatch(/"image \(4,4\)"\s+37\.5,22\.5 12\.5x7\.5/);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.schemaVersion).toBe(1);
    expect(x.image).toMatchObject({ width: 50, height: 30, format: 'png', placement: 'encoder' });
    expect(x.image.tokens).toHaveLength(17);
    const S = x.tokens.length - 1;
    const images: JsonUnit[] = x.units.filter((u: JsonUnit) => u.image !== undefined);
    expect(images).toHaveLength(18);
    for (const u of images) {
      expect(u.image).toBe(0);
      expect(u.positions.every((p) => p >= S && p < S + 17)).toBe(true);
      expect(u.positions).toEqual(u.imageTokens!.map((k) => x.image.tokens[k].column));
    }
    const drawn = images.find((u) => u.label === 'drawn region 1')!;
    const expected = x.image.tokens.flatMap((t: { frame: string; region: Rect }, k: number) => (t.frame !== 'cls' && overlaps(t.region, REGION) ? [k] : []));
    expect(drawn.imageTokens).toEqual(expected);
    expect(drawn.region).toEqual({ left: 0, top: 0, width: 25, height: 15 });
    expect(x.passes).toBe(x.units.length + 1);
  });

  it('tiny-idefics3: the image tokens in the prompt, printed once as <image>', async () => {
    const file = join(dir, 'idefics3.json');
    const { stdout } = await run(tsx, ['src/cli/explain.ts', '--model', 'fixtures/models/tiny-idefics3', '--image', PNG, '--prompt', 'What is in <image> this?',
      '--target', ' the cat', '--mode', 'log-additive', '--json', file]);
    const promptLine = stdout.split('\n')[0]!;
    expect(promptLine.split('<image>')).toHaveLength(2);
    expect(promptLine).toMatch(/^\[What\|[+-]\d.*<image>\[ this\|[+-]\d/);
    expect(stdout).toMatch(/image 50x30 png: 20 image tokens in the decoder sequence; 20 image units/);
    expect(stdout).toMatch(/"global \(2,2\)"\s+25,15 25x15/);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.schemaVersion).toBe(1);
    expect(x.settings.mode).toBe('log-additive');
    expect(x.prompt).toBe('What is in <image> this?');
    expect(x.image).toMatchObject({ width: 50, height: 30, placement: 'sequence' });
    expect(x.image.tokens).toHaveLength(20);
    const images: JsonUnit[] = x.units.filter((u: JsonUnit) => u.image !== undefined);
    expect(images).toHaveLength(20);
    for (const u of images) for (const p of u.positions) expect(x.tokens[p].text).toBe('<image>');
    expect(images.some((u) => Math.abs(u.score) > 1e-3)).toBe(true);
  });

  it('tiny-vit-gpt2: --method chefer scores the image units (encoder rows) with the encoder-decoder rule', async () => {
    const file = join(dir, 'vit-chefer.json');
    const { stdout } = await run(tsx, ['src/cli/explain.ts', '--model', 'fixtures/models/tiny-vit-gpt2', '--method', 'chefer', '--image', PNG, '--prompt', 'a picture of',
      '--target', ' the cat', '--region', '3,2,20,10', '--json', file]);
    expect(stdout).toMatch(/17 image tokens in the encoder output, read through cross-attention; 18 image units/);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.method).toBe('chefer');
    expect(x.image).toMatchObject({ width: 50, height: 30, placement: 'encoder' });
    const S = x.tokens.length - 1;
    const images: JsonUnit[] = x.units.filter((u: JsonUnit) => u.image !== undefined);
    expect(images).toHaveLength(18);
    for (const u of images) expect(u.positions.every((p) => p >= S && p < S + 17)).toBe(true);
    expect(images.some((u) => u.score > 1e-4)).toBe(true);
    // a drawn region scores the sum of its image tokens
    const drawn = images.find((u) => u.label === 'drawn region 1')!;
    const byColumn = new Map(images.filter((u) => u.positions.length === 1).map((u) => [u.positions[0]!, u.score]));
    expect(drawn.score).toBeCloseTo(drawn.positions.reduce((a, p) => a + byColumn.get(p)!, 0), 9);
    expect(x.run.notes.join(' ')).toMatch(/encoder-decoder/);
  });

  it('tiny-idefics3: --method input-x-gradient scores the image tokens of the sequence', async () => {
    const file = join(dir, 'idefics3-ixg.json');
    await run(tsx, ['src/cli/explain.ts', '--model', 'fixtures/models/tiny-idefics3', '--method', 'input-x-gradient', '--image', PNG, '--prompt', 'What is in <image> this?',
      '--target', ' the cat', '--json', file]);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.method).toBe('input-x-gradient');
    expect(x.image).toMatchObject({ placement: 'sequence' });
    const images: JsonUnit[] = x.units.filter((u: JsonUnit) => u.image !== undefined);
    expect(images).toHaveLength(20);
    for (const u of images) for (const p of u.positions) expect(x.tokens[p].text).toBe('<image>');
    expect(images.some((u) => Math.abs(u.score) > 1e-3)).toBe(true);
  });

  it('exits 1 with a typed message for a text file given as the image', async () => {
    const err = await run(tsx, ['src/cli/explain.ts', '--model', 'fixtures/models/tiny-vit-gpt2', '--image', join(dir, 'notes.png'), '--target', ' the cat']).then(
      () => null,
      failure,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/^error \[IMAGE_NOT_AN_IMAGE\]: "notes.png" is not an image/);
  });

  it('exits 1 with a typed message for a malformed --region', async () => {
    const err = await run(tsx, ['src/cli/explain.ts', '--model', 'fixtures/models/tiny-vit-gpt2', '--image', PNG, '--target', ' a', '--region', '3,2,20']).then(
      () => null,
      failure,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/^error \[BAD_SETTING\]: --region takes LEFT,TOP,WIDTH,HEIGHT/);
  });
});

describe('image flags', () => {
  const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
    p.then(
      () => undefined,
      (e: unknown) => (isAtmanError(e) ? e.code : `not typed: ${(e as Error).message}`),
    );

  it('reads LEFT,TOP,WIDTH,HEIGHT', async () => {
    expect(parseRegion('3, 2,20.5,10')).toEqual({ left: 3, top: 2, width: 20.5, height: 10 });
    for (const bad of ['3,2,20', '3,2,0,10', 'a,b,c,d', '1,2,3,4,5', '1,,3,4']) expect(await codeOf(Promise.resolve().then(() => parseRegion(bad)))).toBe('BAD_SETTING');
  });

  it('refuses --region without --image, --generate with --image, and a missing file', async () => {
    const m = 'fixtures/models/tiny-vit-gpt2';
    expect(await codeOf(main(['--model', m, '--prompt', 'a', '--target', ' b', '--region', '1,1,2,2']))).toBe('BAD_SETTING');
    expect(await codeOf(main(['--model', m, '--image', PNG, '--generate', '3']))).toBe('BAD_SETTING');
    expect(await codeOf(main(['--model', m, '--image', join(dir, 'missing.png'), '--target', ' b']))).toBe('BAD_SETTING');
  });
});
