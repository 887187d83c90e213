// Turning the bytes a user gives into the 8-bit RGB image a processor expects, or a sentence
// that says what is wrong with them.
//
// The format is sniffed from the bytes (names and MIME types lie) and the size read from the
// header before anything is decoded, so a tiny file claiming a gigapixel image is refused without
// allocating it. In the browser, decoding goes through transformers.js (createImageBitmap and a
// canvas). In Node it calls sharp directly, asking for 8-bit sRGB with alpha: transformers.js'
// own Node path fails on greyscale+alpha PNGs (it cannot convert sharp's output back to two
// channels). BMP, which sharp cannot read, goes through a small decoder here so Node and the
// browser agree.
//
// Alpha is composited on white. transformers.js' own rgb() just drops alpha, so a transparent
// pixel keeps whatever colour it stores (black in a browser canvas, anything in a PNG); the
// Python processors the models were trained with composite on white (convert_to_rgb), and doing
// the same here makes Node and the browser give the same pixels.
import { RawImage } from '@huggingface/transformers';
import { AtmanError } from '../../core/errors';
import { decodeBmp } from './bmp';
import { type ImageFormat, looksLikeText, readImageHeader, sniffOtherFormat } from './image-header';
export type { ImageFormat, ImageHeader } from './image-header';
export { decodeBmp } from './bmp';
export { readImageHeader, sniffOtherFormat } from './image-header';


export const IMAGE_FORMAT_NAMES: Record<ImageFormat, string> = {
  png: 'PNG',
  jpeg: 'JPEG',
  gif: 'GIF',
  webp: 'WebP',
  bmp: 'BMP',
  avif: 'AVIF',
  tiff: 'TIFF',
};

const WORKING_FORMATS = 'PNG, JPEG, WebP, GIF, BMP, AVIF or TIFF';

export const DEFAULT_MAX_PIXELS = 40_000_000;
export const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;
/**
 * Longest side over shortest side. Beyond it, an image processor that keeps the aspect shrinks
 * the short side to nothing (Qwen2-VL's refuses past the same ratio); checked from the header, so
 * a 1 × 39,000,000 strip is refused without being decoded.
 */
export const MAX_ASPECT_RATIO = 200;

export interface DecodeImageOptions {
  /** the MIME type the file came with, if any (only used to name formats we cannot read) */
  mime?: string;
  filename?: string;
  maxPixels?: number;
  maxBytes?: number;
}

export interface DecodedImage {
  /** 8-bit RGB, 3 channels, upright (EXIF orientation applied) */
  image: RawImage;
  format: ImageFormat;
  width: number;
  height: number;
  /** some pixel was not fully opaque; such parts are now composited on white */
  hadTransparency: boolean;
}


/** Decodes user bytes to 8-bit RGB, or throws an AtmanError with an IMAGE_* code. */
export async function decodeImage(input: Uint8Array | Blob, opts: DecodeImageOptions = {}): Promise<DecodedImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = input instanceof Uint8Array ? input.byteLength : input.size;
  if (size === 0) throw new AtmanError('IMAGE_EMPTY', `${describe(opts)} is empty (0 bytes).`);
  if (size > maxBytes) {
    throw new AtmanError(
      'IMAGE_TOO_LARGE',
      `${describe(opts)} is ${formatBytes(size)}; images up to ${formatBytes(maxBytes)} are accepted. Save it smaller (e.g. as JPEG) and try again.`,
    );
  }
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(await input.arrayBuffer());
  const header = readImageHeader(bytes);
  if (!header) {
    const other = sniffOtherFormat(bytes, opts);
    if (other) {
      throw new AtmanError('IMAGE_UNSUPPORTED_FORMAT', `${other} files cannot be used as images here. Use ${WORKING_FORMATS}.`);
    }
    const looksText = looksLikeText(bytes);
    throw new AtmanError(
      'IMAGE_NOT_AN_IMAGE',
      `${describe(opts)} is not an image${looksText ? ' (it looks like text)' : ''}. Use a ${WORKING_FORMATS} file.`,
    );
  }
  const name = IMAGE_FORMAT_NAMES[header.format];
  if (header.width !== null && header.height !== null) checkDimensions(header.width, header.height, maxPixels, name);

  let raw: RawImage;
  try {
    raw = (header.format === 'bmp' ? decodeBmp(bytes) : null) ?? (await platformDecode(bytes, maxPixels));
  } catch (e) {
    if (e instanceof AtmanError) throw e;
    const tiffNote = header.format === 'tiff' ? ' Some browsers cannot read TIFF at all; PNG or JPEG always work.' : '';
    throw new AtmanError(
      'IMAGE_DAMAGED',
      `${describe(opts)} looks like a ${name} image but could not be decoded; it may be damaged or cut short.${tiffNote}`,
      String((e as Error)?.message ?? e),
    );
  }
  checkDimensions(raw.width, raw.height, maxPixels, name);
  return { image: toRgb8(raw), format: header.format, width: raw.width, height: raw.height, hadTransparency: hasTransparency(raw) };
}

type SharpFn = (input: Uint8Array, options?: Record<string, unknown>) => {
  rotate(): ReturnType<SharpFn>;
  toColourspace(space: string): ReturnType<SharpFn>;
  ensureAlpha(): ReturnType<SharpFn>;
  raw(): ReturnType<SharpFn>;
  toBuffer(o: { resolveWithObject: true }): Promise<{ data: Uint8Array; info: { width: number; height: number; channels: number } }>;
};

let sharpLoader: Promise<SharpFn | null> | undefined;

// Only in Node; the specifier is a variable so browser bundlers leave it alone.
function nodeSharp(): Promise<SharpFn | null> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (typeof proc?.versions?.node !== 'string' || typeof (globalThis as { createImageBitmap?: unknown }).createImageBitmap === 'function') {
    return Promise.resolve(null);
  }
  const specifier = 'sharp';
  sharpLoader ??= import(/* @vite-ignore */ specifier).then(
    (m: { default?: SharpFn }) => m.default ?? (m as unknown as SharpFn),
    () => null,
  );
  return sharpLoader;
}

async function platformDecode(bytes: Uint8Array, maxPixels: number): Promise<RawImage> {
  const sharp = await nodeSharp();
  if (!sharp) return RawImage.fromBlob(new Blob([bytes as BlobPart]));
  // rotate() applies the EXIF orientation, as browsers do by default.
  const { data, info } = await sharp(bytes, { limitInputPixels: Math.max(1, Math.floor(maxPixels)) })
    .rotate()
    .toColourspace('srgb')
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`sharp returned ${info.channels} channels`);
  return new RawImage(new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, 4);
}

/** Whether any pixel of a 2- or 4-channel image is less than fully opaque. */
export function hasTransparency(img: RawImage): boolean {
  if (img.channels !== 2 && img.channels !== 4) return false;
  const d = img.data;
  for (let i = img.channels - 1; i < d.length; i += img.channels) if (d[i]! < 255) return true;
  return false;
}

/** 3-channel 8-bit copy of any 1-4 channel RawImage; alpha is composited on white. */
export function toRgb8(img: RawImage): RawImage {
  const { width, height, channels } = img;
  const src = img.data;
  const n = width * height;
  const out = new Uint8ClampedArray(n * 3);
  if (src.length !== n * channels) throw new AtmanError('IMAGE_DAMAGED', `The decoded image has ${src.length} values for ${width} x ${height} x ${channels}.`);
  for (let i = 0; i < n; i++) {
    let r: number, g: number, b: number, a: number;
    switch (channels) {
      case 1:
        r = g = b = src[i]!;
        a = 255;
        break;
      case 2:
        r = g = b = src[2 * i]!;
        a = src[2 * i + 1]!;
        break;
      case 3:
        r = src[3 * i]!;
        g = src[3 * i + 1]!;
        b = src[3 * i + 2]!;
        a = 255;
        break;
      case 4:
        r = src[4 * i]!;
        g = src[4 * i + 1]!;
        b = src[4 * i + 2]!;
        a = src[4 * i + 3]!;
        break;
      default:
        throw new AtmanError('IMAGE_UNSUPPORTED_FORMAT', `Images with ${channels} channels cannot be used. Use ${WORKING_FORMATS}.`);
    }
    const k = (255 - a) * 255;
    out[3 * i] = Math.round((r * a + k) / 255);
    out[3 * i + 1] = Math.round((g * a + k) / 255);
    out[3 * i + 2] = Math.round((b * a + k) / 255);
  }
  return new RawImage(out, width, height, 3);
}

function checkDimensions(width: number, height: number, maxPixels: number, name: string): void {
  if (!(width > 0 && height > 0)) {
    throw new AtmanError('IMAGE_EMPTY', `This ${name} image has no pixels (${width} × ${height}).`);
  }
  const ratio = Math.max(width, height) / Math.min(width, height);
  if (ratio > MAX_ASPECT_RATIO) {
    throw new AtmanError(
      'IMAGE_TOO_THIN',
      `This ${name} image is ${width} × ${height} pixels, a strip ${Math.round(ratio)} times longer than it is wide; images up to ${MAX_ASPECT_RATIO}:1 are accepted, since a model's image processor would shrink the short side to nothing. Crop it to a less extreme shape.`,
    );
  }
  if (width * height > maxPixels) {
    throw new AtmanError(
      'IMAGE_TOO_LARGE',
      `This image is ${width} × ${height} pixels (${pixelCount(width * height)}); the limit is ${pixelCount(maxPixels)}. Scale it down and try again.`,
    );
  }
}

const pixelCount = (n: number) => (n >= 1e5 ? `${Math.round(n / 1e5) / 10} megapixels` : `${n} pixels`);

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KB`;
  return `${n} bytes`;
}

function describe(opts: DecodeImageOptions): string {
  return opts.filename ? `"${opts.filename}"` : 'The file';
}
