// The model's own image processor (transformers.js), built from the files of a ModelSource, plus
// the geometry that says which part of the original image every image token sees.
//
// The geometry is predicted from the processor's own sizing methods before it runs, then checked
// against what it produced (frame count and sizes): if a processor ever resizes differently from
// the prediction, the explanation would be drawn over the wrong pixels, so that is an error.
import * as transformers from '@huggingface/transformers';
import type { RawImage } from '@huggingface/transformers';
import { AtmanError } from '../../core/errors';
import {
  canvasSize,
  idefics3TileCounts,
  imageFrames,
  imageTokenCount,
  imageTokenRegions,
  type CanvasGeometry,
  type FrameInfo,
  type ImageGeometry,
  type Rect,
  type Size,
  type TokenRegion,
} from '../../core/image-regions';
import type { ModelSource } from '../sources/model-source';
import { resamplePixels } from './resample';

export type ImageProcessorKind = 'idefics3' | 'vit';

/** The marker strings transformers.js' Idefics3Processor writes into the prompt. */
export const IDEFICS3_TOKENS = {
  image: '<image>',
  fakeAround: '<fake_token_around_image>',
  global: '<global-img>',
} as const;

export interface ImageProcessorConfigs {
  /** preprocessor_config.json */
  preprocessor: Record<string, unknown>;
  /** processor_config.json (Idefics3 keeps image_seq_len there) */
  processor?: Record<string, unknown> | null;
  /** config.json: patch size, encoder type, vision image size */
  model?: Record<string, unknown> | null;
}

export interface ProcessOptions {
  /** Idefics3: override do_image_splitting */
  splitting?: boolean;
}

export interface ProcessedImage {
  /** the processor's pixel_values, row-major */
  pixelValues: Float32Array;
  /** [1, frames, 3, h, w] for Idefics3, [1, 3, h, w] for ViT */
  dims: number[];
  /** Idefics3: 1 where a pixel is real, 0 for batch padding; dims [1, frames, h, w] */
  pixelAttentionMask?: Uint8Array;
  pixelAttentionMaskDims?: number[];
  originalSize: Size;
  /** Idefics3 tile rows and columns (0 and 0 without splitting, as the processor reports them); 0 for ViT */
  rows: number;
  cols: number;
  geometry: ImageGeometry;
  frames: FrameInfo[];
  /** every image token in sequence order, with the original-image region it covers */
  tokenRegions: TokenRegion[];
  /** number of image tokens (Idefics3: in the prompt; ViT: in the encoder sequence, CLS included) */
  tokenCount: number;
  /** Idefics3: the text the processor puts in place of one '<image>' of the prompt */
  promptFragment?: string;
}

export interface LoadedImageProcessor {
  kind: ImageProcessorKind;
  /** the transformers.js class that runs */
  className: string;
  /** Idefics3: tokens per frame */
  imageSeqLen?: number;
  /** the geometry for an image of this size, without running anything */
  predictGeometry(original: Size, opts?: ProcessOptions): ImageGeometry;
  process(image: RawImage, opts?: ProcessOptions): Promise<ProcessedImage>;
}

/** Reads the processor files of a model and builds its image processor. */
export async function loadImageProcessor(source: ModelSource): Promise<LoadedImageProcessor> {
  if (!(await source.has('preprocessor_config.json'))) {
    throw new AtmanError(
      'MODEL_FILES_MISSING',
      `${source.id} has no preprocessor_config.json, so it cannot read images (it may be a text-only model).`,
    );
  }
  const read = async (path: string, required: boolean): Promise<Record<string, unknown> | null> => {
    if (!required && !(await source.has(path))) return null;
    const text = new TextDecoder().decode(await source.read(path));
    try {
      const json: unknown = JSON.parse(text);
      if (!isObject(json)) throw new Error('not a JSON object');
      return json;
    } catch (e) {
      throw new AtmanError('MODEL_UNSUPPORTED', `${path} of ${source.id} is not valid JSON: ${(e as Error).message}`);
    }
  };
  const preprocessor = (await read('preprocessor_config.json', true))!;
  const processor = await read('processor_config.json', false);
  const model = await read('config.json', false);
  return createImageProcessor({ preprocessor, processor, model }, source.id);
}

/** Builds the image processor from already parsed configs. */
export function createImageProcessor(configs: ImageProcessorConfigs, id = 'this model'): LoadedImageProcessor {
  const pre = configs.preprocessor;
  const model = configs.model ?? {};
  const declared = String(pre.image_processor_type ?? pre.feature_extractor_type ?? '').replace(/Fast$/, '');
  const kind = processorKind(declared, model);
  if (!kind) {
    throw new AtmanError(
      'MODEL_UNSUPPORTED',
      `The image processor of ${id} (${declared || String(model.model_type ?? 'unknown')}) is not supported; image explanations work with Idefics3/SmolVLM and ViT image-captioning models.`,
    );
  }
  for (const flag of ['do_thumbnail', 'do_crop_margin'] as const) {
    if (pre[flag]) throw new AtmanError('MODEL_UNSUPPORTED', `The image processor of ${id} uses ${flag}, which image explanations do not support.`);
  }
  const classes = transformers as unknown as Record<string, new (c: unknown) => HfImageProcessor>;
  const className = kind === 'idefics3' ? 'Idefics3ImageProcessor' : classes[declared] && VIT_CLASSES.has(declared) ? declared : 'ViTImageProcessor';
  // Python's ViT processors read an integer size as a square (get_size_dict); transformers.js would
  // read it as a shortest edge and hand the fixed-size encoder a non-square image.
  const config = kind === 'vit' && typeof pre.size === 'number' ? { ...pre, size: { height: pre.size, width: pre.size } } : pre;
  let proc: HfImageProcessor;
  try {
    proc = new classes[className]!(config);
  } catch (e) {
    throw new AtmanError('MODEL_UNSUPPORTED', `The image processor of ${id} could not be built: ${(e as Error).message}`);
  }
  return kind === 'idefics3' ? idefics3Processor(proc, configs, id) : vitProcessor(proc, className, model, id);
}

/** The prompt text the Idefics3 processor puts in place of one '<image>' (transformers.js processing_idefics3.js). */
export function idefics3PromptFragment(rows: number, cols: number, imageSeqLen: number): string {
  const { image, fakeAround, global } = IDEFICS3_TOKENS;
  const tokens = image.repeat(imageSeqLen);
  if (rows === 0 && cols === 0) return `${fakeAround}${global}${tokens}${fakeAround}`;
  let text = '';
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) text += `${fakeAround}<row_${r + 1}_col_${c + 1}>${tokens}`;
    text += '\n';
  }
  return `${text}\n${fakeAround}${global}${tokens}${fakeAround}`;
}

/** Replaces each '<image>' marker of a prompt by its image's fragment, as the processor does. */
export function expandImageMarkers(text: string, fragments: string[]): string {
  const parts = text.split(IDEFICS3_TOKENS.image);
  if (parts.length - 1 !== fragments.length) {
    throw new AtmanError(
      'BAD_SETTING',
      `The prompt has ${parts.length - 1} ${IDEFICS3_TOKENS.image} marker(s) for ${fragments.length} image(s); put one marker where each image goes.`,
    );
  }
  return parts.reduce((acc, part, i) => (i === 0 ? part : acc + fragments[i - 1]! + part), '');
}

// --- internals ---

interface HfTensor {
  data: ArrayLike<number | boolean> & { length: number };
  dims: number[];
}

interface HfImageProcessor {
  (image: RawImage, opts?: Record<string, unknown>): Promise<Record<string, unknown>>;
  size?: unknown;
  do_resize?: boolean;
  do_center_crop?: boolean;
  crop_size?: number | { width: number; height: number };
  do_pad?: boolean;
  pad_size?: number | 'square' | { width: number; height: number };
  size_divisibility?: number;
  do_image_splitting?: boolean;
  max_image_size?: { longest_edge: number };
  get_resize_output_image_size(image: { size: [number, number] }, size: unknown): [number, number];
  get_resize_for_vision_encoder?(pixelValues: { dims: number[] }, max: number): { width: number; height: number };
}

const VIT_CLASSES = new Set(['ViTImageProcessor', 'ViTFeatureExtractor', 'DeiTImageProcessor', 'DeiTFeatureExtractor']);
const IDEFICS3_CLASSES = new Set(['Idefics3ImageProcessor', 'SmolVLMImageProcessor']);

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function processorKind(declared: string, model: Record<string, unknown>): ImageProcessorKind | null {
  if (IDEFICS3_CLASSES.has(declared)) return 'idefics3';
  if (VIT_CLASSES.has(declared)) return 'vit';
  if (declared) return null;
  const type = String(model.model_type ?? '');
  if (type === 'idefics3' || type === 'smolvlm') return 'idefics3';
  if (type === 'vision-encoder-decoder' || type === 'vit' || type === 'deit') return 'vit';
  return null;
}

function predictCanvas(p: HfImageProcessor, original: Size): CanvasGeometry {
  let resized: Size = { ...original };
  if (p.do_resize) {
    const [width, height] = p.get_resize_output_image_size({ size: [original.width, original.height] }, p.size);
    resized = { width, height };
  }
  // A thin picture that passed the decoder's aspect bound can still lose its short side here
  // (a small longest_edge); say so in words instead of failing inside the resampler.
  if (!(resized.width >= 1 && resized.height >= 1)) {
    throw new AtmanError(
      'IMAGE_TOO_THIN',
      `This image (${original.width} × ${original.height} pixels) is too thin for this model's image processor, which resizes it to ${resized.width} × ${resized.height}. Crop it to a less extreme shape.`,
    );
  }
  let content = resized;
  let crop: Rect | null = null;
  if (p.do_center_crop && p.crop_size !== undefined) {
    const cw = typeof p.crop_size === 'number' ? p.crop_size : p.crop_size.width;
    const ch = typeof p.crop_size === 'number' ? p.crop_size : p.crop_size.height;
    if (cw !== resized.width || ch !== resized.height) {
      // RawImage.center_crop: floor of the offset when cropping, of the border when padding.
      const offset = (have: number, want: number) => (have >= want ? Math.floor((have - want) / 2) : -Math.floor((want - have) / 2));
      crop = { left: offset(resized.width, cw), top: offset(resized.height, ch), width: cw, height: ch };
      content = { width: cw, height: ch };
    }
  }
  let padTo: Size | null = null;
  if (p.do_pad) {
    if (p.pad_size !== undefined && p.pad_size !== null) {
      const ps = p.pad_size;
      padTo = typeof ps === 'number' ? { width: ps, height: ps } : ps === 'square' ? { width: Math.max(content.width, content.height), height: Math.max(content.width, content.height) } : ps;
    } else if (p.size_divisibility) {
      const d = p.size_divisibility;
      padTo = { width: Math.ceil(content.width / d) * d, height: Math.ceil(content.height / d) * d };
    }
    if (padTo && padTo.width === content.width && padTo.height === content.height) padTo = null;
  }
  return { resized, crop, padTo };
}

/**
 * The picture at the size the processor's resize step asks for, made with the engine's own filter
 * (the same pixels in Node and in the browser, see resample.ts); the processor then keeps it as is.
 */
async function presized(p: HfImageProcessor, image: RawImage, size: Size): Promise<RawImage> {
  if (!p.do_resize || (image.width === size.width && image.height === size.height)) return image;
  const rgb = image.channels === 3 ? image : image.rgb();
  const data = resamplePixels(rgb.data, rgb.width, rgb.height, 3, size.width, size.height);
  return new transformers.RawImage(data, size.width, size.height, 3);
}

function contentSize(c: CanvasGeometry): Size {
  return c.crop ? { width: c.crop.width, height: c.crop.height } : c.resized;
}

function tensorOf(out: Record<string, unknown>, key: string): HfTensor {
  const t = out[key] as HfTensor | undefined;
  if (!t || !Array.isArray(t.dims)) throw new AtmanError('MODEL_UNSUPPORTED', `The image processor returned no ${key}.`);
  return t;
}

function float32(t: HfTensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
}

async function run(p: HfImageProcessor, image: RawImage, opts: Record<string, unknown>, id: string): Promise<Record<string, unknown>> {
  try {
    return await p(image, opts);
  } catch (e) {
    throw new AtmanError('MODEL_UNSUPPORTED', `The image processor of ${id} failed on this image: ${(e as Error).message}`);
  }
}

function mismatch(id: string, what: string, expected: unknown, got: unknown): AtmanError {
  return new AtmanError(
    'MODEL_UNSUPPORTED',
    `The image processor of ${id} produced ${what} ${JSON.stringify(got)} where ${JSON.stringify(expected)} was expected; image regions cannot be mapped for it.`,
  );
}

const sameDims = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function idefics3Processor(p: HfImageProcessor, configs: ImageProcessorConfigs, id: string): LoadedImageProcessor {
  const max = p.max_image_size?.longest_edge;
  if (!(Number.isInteger(max) && max! > 0)) {
    throw new AtmanError('MODEL_UNSUPPORTED', `preprocessor_config.json of ${id} has no max_image_size.longest_edge.`);
  }
  const model = configs.model ?? {};
  const vision = isObject(model.vision_config) ? model.vision_config : null;
  const scale = typeof model.scale_factor === 'number' ? model.scale_factor : null;
  let fromModel: number | null = null;
  if (vision && typeof vision.image_size === 'number' && typeof vision.patch_size === 'number' && scale) {
    fromModel = (vision.image_size / vision.patch_size / scale) ** 2;
    if (vision.image_size !== max) {
      throw mismatch(id, 'frames of size', vision.image_size, max);
    }
  }
  const declared = configs.processor?.image_seq_len;
  const imageSeqLen = typeof declared === 'number' ? declared : fromModel;
  if (imageSeqLen === null) {
    throw new AtmanError('MODEL_FILES_MISSING', `${id} says neither image_seq_len (processor_config.json) nor the vision patch layout (config.json).`);
  }
  if (fromModel !== null && fromModel !== imageSeqLen) throw mismatch(id, 'image_seq_len', fromModel, imageSeqLen);
  const grid = Math.round(Math.sqrt(imageSeqLen));
  if (grid * grid !== imageSeqLen) {
    throw new AtmanError('MODEL_UNSUPPORTED', `image_seq_len ${imageSeqLen} of ${id} is not a square grid of tokens.`);
  }
  const splits = (opts?: ProcessOptions) => opts?.splitting ?? p.do_image_splitting ?? true;

  const predictGeometry = (original: Size, opts?: ProcessOptions): ImageGeometry => {
    const canvas = predictCanvas(p, original);
    const out = canvasSize(canvas);
    const split = splits(opts) ? { size: p.get_resize_for_vision_encoder!({ dims: [1, 3, out.height, out.width] }, max!), tileSize: max! } : null;
    return { kind: 'idefics3', canvas, split, grid };
  };

  return {
    kind: 'idefics3',
    className: 'Idefics3ImageProcessor',
    imageSeqLen,
    predictGeometry,
    async process(image, opts) {
      const original = { width: image.width, height: image.height };
      const geometry = predictGeometry(original, opts);
      const out = await run(p, await presized(p, image, geometry.canvas.resized), { do_image_splitting: splits(opts), return_row_col_info: true }, id);
      const pv = tensorOf(out, 'pixel_values');
      const mask = tensorOf(out, 'pixel_attention_mask');
      const rows = (out.rows as number[][] | undefined)?.[0]?.[0] ?? 0;
      const cols = (out.cols as number[][] | undefined)?.[0]?.[0] ?? 0;
      const tiles = geometry.kind === 'idefics3' && geometry.split ? idefics3TileCounts(geometry.split.size, max!) : { rows: 0, cols: 0 };
      const frameCount = tiles.rows * tiles.cols + 1;
      if (!sameDims(pv.dims, [1, frameCount, 3, max, max])) throw mismatch(id, 'pixel_values of shape', [1, frameCount, 3, max, max], pv.dims);
      if (rows !== tiles.rows || cols !== tiles.cols) throw mismatch(id, 'a tile grid of', [tiles.rows, tiles.cols], [rows, cols]);
      const reshaped = (out.reshaped_input_sizes as number[][] | undefined)?.[0];
      const content = contentSize(geometry.canvas);
      if (reshaped && !sameDims(reshaped, [content.height, content.width])) throw mismatch(id, 'a resized image of', [content.height, content.width], reshaped);
      const tokenRegions = imageTokenRegions(original, geometry);
      return {
        pixelValues: float32(pv),
        dims: [...pv.dims],
        pixelAttentionMask: Uint8Array.from(mask.data as ArrayLike<number>, (v) => (v ? 1 : 0)),
        pixelAttentionMaskDims: [...mask.dims],
        originalSize: original,
        rows,
        cols,
        geometry,
        frames: imageFrames(original, geometry),
        tokenRegions,
        tokenCount: imageTokenCount(geometry),
        promptFragment: idefics3PromptFragment(rows, cols, imageSeqLen),
      };
    },
  };
}

function vitProcessor(p: HfImageProcessor, className: string, model: Record<string, unknown>, id: string): LoadedImageProcessor {
  const encoder = isObject(model.encoder) ? model.encoder : model;
  const encoderType = String(encoder.model_type ?? (className.startsWith('DeiT') ? 'deit' : 'vit'));
  if (encoderType !== 'vit' && encoderType !== 'deit') {
    throw new AtmanError('MODEL_UNSUPPORTED', `The image encoder of ${id} is ${encoderType}; image explanations support ViT and DeiT encoders.`);
  }
  // DeiT puts a distillation token after CLS.
  const prefixTokens = encoderType === 'deit' ? 2 : 1;
  const patch = encoder.patch_size;
  if (typeof patch !== 'number' || !(patch > 0)) {
    throw new AtmanError('MODEL_FILES_MISSING', `config.json of ${id} does not give the image encoder's patch_size.`);
  }
  const imageSize = encoder.image_size;
  const expected: Size | null =
    typeof imageSize === 'number'
      ? { width: imageSize, height: imageSize }
      : Array.isArray(imageSize) && imageSize.length === 2
        ? { height: Number(imageSize[0]), width: Number(imageSize[1]) }
        : null;

  const predictGeometry = (original: Size): ImageGeometry => {
    const canvas = predictCanvas(p, original);
    const out = canvasSize(canvas);
    if (expected && (out.width !== expected.width || out.height !== expected.height)) {
      throw new AtmanError(
        'MODEL_UNSUPPORTED',
        `The image processor of ${id} makes ${out.width} × ${out.height} images from this one, but its encoder takes ${expected.width} × ${expected.height}.`,
      );
    }
    if (out.width % patch !== 0 || out.height % patch !== 0) {
      throw new AtmanError('MODEL_UNSUPPORTED', `The processed image (${out.width} × ${out.height}) of ${id} is not a whole number of ${patch}-pixel patches.`);
    }
    return { kind: 'vit', canvas, grid: { rows: out.height / patch, cols: out.width / patch }, prefixTokens };
  };

  return {
    kind: 'vit',
    className,
    predictGeometry,
    async process(image) {
      const original = { width: image.width, height: image.height };
      const geometry = predictGeometry(original);
      const out = await run(p, await presized(p, image, geometry.canvas.resized), {}, id);
      const pv = tensorOf(out, 'pixel_values');
      const size = canvasSize(geometry.canvas);
      if (!sameDims(pv.dims, [1, 3, size.height, size.width])) throw mismatch(id, 'pixel_values of shape', [1, 3, size.height, size.width], pv.dims);
      return {
        pixelValues: float32(pv),
        dims: [...pv.dims],
        originalSize: original,
        rows: 0,
        cols: 0,
        geometry,
        frames: imageFrames(original, geometry),
        tokenRegions: imageTokenRegions(original, geometry),
        tokenCount: imageTokenCount(geometry),
      };
    },
  };
}
