import { readFileSync } from 'node:fs';
import * as transformers from '@huggingface/transformers';
import { RawImage } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { isAtmanError } from '../../core/errors';
import type { Rect, TokenRegion } from '../../core/image-regions';
import { imageTokenPositions } from '../../core/image-units';
import {
  createImageProcessor,
  expandImageMarkers,
  idefics3PromptFragment,
  loadImageProcessor,
  type ImageProcessorConfigs,
  type ProcessedImage,
} from './image-processor';
import { folderSource } from '../sources/folder-source';
import { resamplePixels } from './resample';

// A smooth gradient: red grows left to right, green top to bottom, so the mean colour of any
// region says where it is. Channel value at pixel centre x: 255 * (x + 0.5) / width.
function gradient(width: number, height: number): RawImage {
  const d = new Uint8ClampedArray(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      d.set([Math.round((255 * (x + 0.5)) / width), Math.round((255 * (y + 0.5)) / height), 128], (y * width + x) * 3);
    }
  }
  return new RawImage(d, width, height, 3);
}

// Mean red/green (0..255) of a frame's pixel block, from normalised pixel values (mean 0.5, std 0.5).
function blockMean(p: ProcessedImage, frame: number, top: number, left: number, h: number, w: number): [number, number] {
  const [H, W] = p.dims.slice(-2) as [number, number];
  const base = frame * 3 * H * W;
  let r = 0;
  let g = 0;
  for (let y = top; y < top + h; y++) {
    for (let x = left; x < left + w; x++) {
      r += p.pixelValues[base + y * W + x]!;
      g += p.pixelValues[base + H * W + y * W + x]!;
    }
  }
  const to255 = (v: number) => (v / (h * w)) * 0.5 * 255 + 0.5 * 255;
  return [to255(r), to255(g)];
}

// Every token's pixels must show the gradient value at the centre of the region it claims.
function checkRegionsAgainstPixels(p: ProcessedImage, tolerance: number): number {
  const { width, height } = p.originalSize;
  const [H, W] = p.dims.slice(-2) as [number, number];
  let worst = 0;
  for (const f of p.frames) {
    if (f.kind === 'cls' || f.kind === 'distillation') continue;
    const frameIndex = p.geometry.kind === 'idefics3' ? f.index : 0;
    const tokens = p.tokenRegions.slice(f.firstToken, f.firstToken + f.rows * f.cols);
    for (const t of tokens) {
      const bh = H / f.rows;
      const bw = W / f.cols;
      const [r, g] = blockMean(p, frameIndex, t.row * bh, t.col * bw, bh, bw);
      const cx = t.region.left + t.region.width / 2;
      const cy = t.region.top + t.region.height / 2;
      const err = Math.max(Math.abs(r - (255 * cx) / width), Math.abs(g - (255 * cy) / height));
      worst = Math.max(worst, err);
      expect(err, `${t.frame} (${t.row},${t.col}) of ${width}x${height}`).toBeLessThan(tolerance);
    }
  }
  return worst;
}

const IDEFICS3: ImageProcessorConfigs = {
  preprocessor: {
    do_convert_rgb: true,
    do_image_splitting: true,
    do_normalize: true,
    do_pad: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
    image_processor_type: 'Idefics3ImageProcessor',
    max_image_size: { longest_edge: 32 },
    resample: 1,
    rescale_factor: 1 / 255,
    size: { longest_edge: 128 },
  },
  processor: { image_seq_len: 16 },
  model: { model_type: 'idefics3', scale_factor: 2, vision_config: { image_size: 32, patch_size: 4 } },
};

const VIT = (pre: Record<string, unknown>, encoder: Record<string, unknown> = {}): ImageProcessorConfigs => ({
  preprocessor: { do_normalize: true, do_rescale: true, do_resize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], resample: 2, rescale_factor: 1 / 255, image_processor_type: 'ViTImageProcessor', ...pre },
  model: { model_type: 'vision-encoder-decoder', encoder: { model_type: 'vit', patch_size: 8, ...encoder } },
});

describe('Idefics3 processor', () => {
  const proc = createImageProcessor(IDEFICS3);

  it('predicts the frames the processor makes (hand-worked 50x30 and 1000x200)', async () => {
    // 50x30 -> longest edge 128: 128 x floor(76.8) = 76 -> encoder canvas 128 x 96 -> 3 x 4 tiles + global
    const a = await proc.process(gradient(50, 30));
    expect(a.geometry).toEqual({ kind: 'idefics3', canvas: { resized: { width: 128, height: 76 }, crop: null, padTo: null }, split: { size: { width: 128, height: 96 }, tileSize: 32 }, grid: 4 });
    expect([a.rows, a.cols, a.dims]).toEqual([3, 4, [1, 13, 3, 32, 32]]);
    expect(a.tokenCount).toBe(13 * 16);
    expect(a.tokenRegions).toHaveLength(13 * 16);
    expect(a.pixelAttentionMaskDims).toEqual([1, 13, 32, 32]);
    expect(a.pixelAttentionMask!.every((v) => v === 1)).toBe(true);
    expect(a.pixelValues).toHaveLength(13 * 3 * 32 * 32);
    // 1000x200 -> 128 x 25 -> 128 x 32 -> 1 x 4 tiles
    const b = await proc.process(gradient(1000, 200));
    expect([b.rows, b.cols, b.dims[1]]).toEqual([1, 4, 5]);
    expect(b.frames.map((f) => f.label)).toEqual(['tile 1,1', 'tile 1,2', 'tile 1,3', 'tile 1,4', 'global']);
  });

  it('maps every token to the pixels it really sees, for landscape, portrait, tiny and square images', async () => {
    let worst = 0;
    for (const [w, h] of [[50, 30], [30, 50], [1000, 200], [200, 700], [7, 5], [64, 64], [129, 40]] as const) {
      const p = await proc.process(gradient(w, h));
      expect(p.dims[1]).toBe(p.rows * p.cols + 1);
      // a source pixel of a tiny image spans many processed pixels: allow a third of one
      worst = Math.max(worst, checkRegionsAgainstPixels(p, Math.max(9, 85 / Math.min(w, h))));
    }
    expect(worst).toBeGreaterThan(0);
  });

  it('without splitting there is one global frame; the option overrides the config', async () => {
    const p = await proc.process(gradient(50, 30), { splitting: false });
    expect([p.rows, p.cols, p.dims]).toEqual([0, 0, [1, 1, 3, 32, 32]]);
    expect(p.geometry).toMatchObject({ split: null });
    expect(p.promptFragment).toBe(`<fake_token_around_image><global-img>${'<image>'.repeat(16)}<fake_token_around_image>`);
    checkRegionsAgainstPixels(p, 9);
    const noSplit = createImageProcessor({ ...IDEFICS3, preprocessor: { ...IDEFICS3.preprocessor, do_image_splitting: false } });
    expect((await noSplit.process(gradient(50, 30))).dims[1]).toBe(1);
    expect(noSplit.predictGeometry({ width: 50, height: 30 }, { splitting: true })).toMatchObject({ split: { size: { width: 128, height: 96 } } });
  });

  it('writes the prompt fragment of the split image like the processor', async () => {
    const frag = idefics3PromptFragment(1, 2, 2);
    const F = '<fake_token_around_image>';
    expect(frag).toBe(`${F}<row_1_col_1><image><image>${F}<row_1_col_2><image><image>\n\n${F}<global-img><image><image>${F}`);
    expect(expandImageMarkers('User:<image>What is it?', [frag])).toBe(`User:${frag}What is it?`);
    expect(() => expandImageMarkers('no marker', [frag])).toThrow(/0 <image> marker/);
  });

  it('refuses configs whose numbers disagree', () => {
    const bad = (c: ImageProcessorConfigs, re: RegExp) => {
      let err: unknown;
      try {
        createImageProcessor(c);
      } catch (e) {
        err = e;
      }
      expect(isAtmanError(err), String(err)).toBe(true);
      expect((err as Error).message).toMatch(re);
    };
    bad({ ...IDEFICS3, processor: { image_seq_len: 12 } }, /image_seq_len/);
    bad({ ...IDEFICS3, processor: null, model: null }, /neither image_seq_len/);
    bad({ ...IDEFICS3, processor: { image_seq_len: 12 }, model: null }, /not a square grid/);
    bad({ ...IDEFICS3, model: { ...IDEFICS3.model, vision_config: { image_size: 64, patch_size: 8 } } }, /frames of size/);
    bad({ preprocessor: { image_processor_type: 'CLIPImageProcessor' } }, /not supported/);
    bad({ preprocessor: { ...IDEFICS3.preprocessor, do_thumbnail: true }, processor: { image_seq_len: 16 } }, /do_thumbnail/);
  });
});

describe('thin pictures', () => {
  it('a picture the processor would shrink to nothing is IMAGE_TOO_THIN in words, not a resampler error', async () => {
    // longest edge 128: 1 x 150 -> 0 x 128
    const proc = createImageProcessor(IDEFICS3);
    expect(() => proc.predictGeometry({ width: 1, height: 150 })).toThrow(expect.objectContaining({ code: 'IMAGE_TOO_THIN', message: expect.stringMatching(/^This image \(1 × 150 pixels\) is too thin for this model's image processor, which resizes it to 0 × 128\./) }));
    await expect(proc.process(gradient(1, 150))).rejects.toMatchObject({ code: 'IMAGE_TOO_THIN' });
  });
});

describe('ViT processor', () => {
  it('stretches to a fixed size: CLS + grid, regions checked against the pixels', async () => {
    const proc = createImageProcessor(VIT({ size: { height: 32, width: 32 } }, { image_size: 32 }));
    const p = await proc.process(gradient(100, 60));
    expect(p.dims).toEqual([1, 3, 32, 32]);
    expect(p.geometry).toEqual({ kind: 'vit', canvas: { resized: { width: 32, height: 32 }, crop: null, padTo: null }, grid: { rows: 4, cols: 4 }, prefixTokens: 1 });
    expect(p.tokenCount).toBe(17);
    expect(p.tokenRegions[0]).toMatchObject({ frame: 'cls', region: { left: 0, top: 0, width: 100, height: 60 } });
    expect(p.promptFragment).toBeUndefined();
    checkRegionsAgainstPixels(p, 6);
  });

  it('reads an integer size as a square, like the Python processor', async () => {
    const proc = createImageProcessor(VIT({ size: 32 }, { image_size: 32 }));
    expect((await proc.process(gradient(100, 60))).dims).toEqual([1, 3, 32, 32]);
  });

  it('centre-crops after an aspect-keeping resize (100x60 -> 66x40 -> 32x32 from (17, 4))', async () => {
    const proc = createImageProcessor(VIT({ size: { shortest_edge: 40 }, do_center_crop: true, crop_size: { height: 32, width: 32 } }, { model_type: 'deit', image_size: 32 }));
    const p = await proc.process(gradient(100, 60));
    expect(p.geometry).toEqual({
      kind: 'vit',
      canvas: { resized: { width: 66, height: 40 }, crop: { left: 17, top: 4, width: 32, height: 32 }, padTo: null },
      grid: { rows: 4, cols: 4 },
      prefixTokens: 2,
    });
    expect(p.tokenRegions.slice(0, 2).map((t) => t.frame)).toEqual(['cls', 'distillation']);
    const r: Rect = p.tokenRegions[0]!.region;
    expect(r.left).toBeCloseTo((17 * 100) / 66, 9);
    expect(r.width).toBeCloseTo((32 * 100) / 66, 9);
    expect(r.top).toBeCloseTo(4 * 1.5, 9);
    checkRegionsAgainstPixels(p, 6);
  });

  it('refuses a processor whose output the encoder cannot take', () => {
    const proc = createImageProcessor(VIT({ size: { shortest_edge: 32 } }, { image_size: 32 }));
    expect(() => proc.predictGeometry({ width: 100, height: 60 })).toThrow(/makes 53 × 32 images/);
    expect(() => createImageProcessor(VIT({ size: 32 }, { model_type: 'swin' }))).toThrow(/swin/);
  });
});

describe('bundled fixtures through a folder source', () => {
  it('tiny-idefics3: geometry, pixels and the processor-expanded prompt', async () => {
    const dir = 'fixtures/models/tiny-idefics3';
    const proc = await loadImageProcessor(folderSource(dir));
    expect([proc.kind, proc.imageSeqLen]).toEqual(['idefics3', 4]);
    const image = gradient(50, 30);
    const p = await proc.process(image);
    // 50x30 -> longest edge 64: 64 x 38 -> encoder canvas 64 x 64 -> 2 x 2 tiles + global, 4 tokens each
    expect([p.rows, p.cols, p.dims, p.tokenCount]).toEqual([2, 2, [1, 5, 3, 32, 32], 20]);
    checkRegionsAgainstPixels(p, 9);

    // transformers.js' own Idefics3Processor expands the prompt to exactly our fragment
    const tokJson = JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8'));
    const tokConfig = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8'));
    const tokenizer = new transformers.GPT2Tokenizer(tokJson, tokConfig);
    const pre = JSON.parse(readFileSync(`${dir}/preprocessor_config.json`, 'utf8'));
    const processorConfig = JSON.parse(readFileSync(`${dir}/processor_config.json`, 'utf8'));
    const hf = new transformers.Idefics3Processor(processorConfig, { image_processor: new transformers.Idefics3ImageProcessor(pre), tokenizer }, null);
    const text = 'User:<image>What is this?';
    // The engine resizes first with its own filter (resample.ts); the processor keeps that picture.
    const resized = new RawImage(resamplePixels(image.data, 50, 30, 3, 64, 38), 64, 38, 3);
    const out = (await hf(text, resized)) as { input_ids: { data: BigInt64Array }; pixel_values: { dims: number[]; data: Float32Array } };
    const hfIds = Array.from(out.input_ids.data, Number);
    const ours = tokenizer.encode(expandImageMarkers(text, [p.promptFragment!])) as number[];
    expect(ours).toEqual(hfIds);
    expect(out.pixel_values.dims).toEqual(p.dims);
    expect(Array.from(out.pixel_values.data)).toEqual(Array.from(p.pixelValues));
    const config = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8'));
    const positions = imageTokenPositions(hfIds, config.image_token_id);
    expect(positions).toHaveLength(p.tokenCount);
    // frames appear in the prompt in the order of the token regions: a marker precedes each frame
    const frameStarts = p.frames.map((f) => positions[f.firstToken]!);
    expect(frameStarts.every((pos, i) => i === 0 || pos > frameStarts[i - 1]! + 4)).toBe(true);
  });

  it('tiny-vit-gpt2: CLS + 4x4 patches over the original', async () => {
    const proc = await loadImageProcessor(folderSource('fixtures/models/tiny-vit-gpt2'));
    expect(proc.kind).toBe('vit');
    const p = await proc.process(gradient(90, 40));
    expect([p.dims, p.tokenCount]).toEqual([[1, 3, 32, 32], 17]);
    const t: TokenRegion = p.tokenRegions[16]!;
    expect(t).toMatchObject({ frame: 'image', row: 3, col: 3 });
    expect(t.region.left).toBeCloseTo(67.5, 9);
    expect(t.region.top).toBeCloseTo(30, 9);
    checkRegionsAgainstPixels(p, 6);
  });

  it('a text-only model has no image processor', async () => {
    let err: unknown;
    try {
      await loadImageProcessor(folderSource('fixtures/models/tiny-gpt2'));
    } catch (e) {
      err = e;
    }
    expect(isAtmanError(err, 'MODEL_FILES_MISSING')).toBe(true);
    expect((err as Error).message).toMatch(/preprocessor_config.json/);
  });
});
