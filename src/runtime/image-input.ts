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
import { AtmanError } from '../core/errors';

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'avif' | 'tiff';

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

export interface ImageHeader {
  format: ImageFormat;
  /** null when the header does not say (or we do not read it for this format) */
  width: number | null;
  height: number | null;
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

// --- sniffing ---

const ascii = (b: Uint8Array, at: number, len: number) => String.fromCharCode(...b.subarray(at, at + len));
const u16be = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32be = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const u16le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32le = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
const i32le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);

function startsWith(b: Uint8Array, sig: number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  return sig.every((x, i) => b[at + i] === x);
}

/** ISO-BMFF brands (major and compatible), for AVIF vs HEIC. */
function ftypBrands(b: Uint8Array): string[] | null {
  if (b.length < 12 || ascii(b, 4, 4) !== 'ftyp') return null;
  const boxSize = Math.min(u32be(b, 0), b.length);
  const brands = [ascii(b, 8, 4)];
  for (let at = 16; at + 4 <= boxSize; at += 4) brands.push(ascii(b, at, 4));
  return brands;
}

/** The format we can decode and its size from the header, or null when the bytes are none of them. */
export function readImageHeader(b: Uint8Array): ImageHeader | null {
  const none = (format: ImageFormat): ImageHeader => ({ format, width: null, height: null });
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    if (b.length >= 24 && ascii(b, 12, 4) === 'IHDR') return { format: 'png', width: u32be(b, 16), height: u32be(b, 20) };
    return none('png');
  }
  if (startsWith(b, [0xff, 0xd8, 0xff])) return { format: 'jpeg', ...jpegSize(b) };
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) {
    if (b.length >= 10) return { format: 'gif', width: u16le(b, 6), height: u16le(b, 8) };
    return none('gif');
  }
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return { format: 'webp', ...webpSize(b) };
  if (b.length >= 26 && ascii(b, 0, 2) === 'BM') {
    const dib = u32le(b, 14);
    if (dib === 12) return { format: 'bmp', width: u16le(b, 18), height: u16le(b, 20) };
    if (dib >= 40) return { format: 'bmp', width: Math.abs(i32le(b, 18)), height: Math.abs(i32le(b, 22)) };
    return null;
  }
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return { format: 'tiff', ...tiffSize(b) };
  const brands = ftypBrands(b);
  if (brands && (brands.includes('avif') || brands.includes('avis'))) return { format: 'avif', ...avifSize(b) };
  return null;
}

type Dims = { width: number | null; height: number | null };
const unknownDims: Dims = { width: null, height: null };

function jpegSize(b: Uint8Array): Dims {
  let at = 2;
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return unknownDims;
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
      at += 2;
      continue;
    }
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return { height: u16be(b, at + 5), width: u16be(b, at + 7) };
    at += 2 + u16be(b, at + 2);
  }
  return unknownDims;
}

function webpSize(b: Uint8Array): Dims {
  if (b.length < 30) return unknownDims;
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ') return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  if (chunk === 'VP8L' && b[20] === 0x2f) {
    const bits = u32le(b, 21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    return { width: 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)), height: 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16)) };
  }
  return unknownDims;
}

function tiffSize(b: Uint8Array): Dims {
  const le = b[0] === 0x49;
  const r16 = (at: number) => (le ? u16le(b, at) : u16be(b, at));
  const r32 = (at: number) => (le ? u32le(b, at) : u32be(b, at));
  if (b.length < 8) return unknownDims;
  const ifd = r32(4);
  if (ifd + 2 > b.length) return unknownDims;
  const n = r16(ifd);
  let width: number | null = null;
  let height: number | null = null;
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > b.length) break;
    const tag = r16(e);
    const type = r16(e + 2);
    const value = type === 3 ? r16(e + 8) : r32(e + 8);
    if (tag === 256) width = value;
    if (tag === 257) height = value;
  }
  return { width, height };
}

// The primary item's 'ispe' (image spatial extents); with several (thumbnails, alpha planes) the largest.
function avifSize(b: Uint8Array): Dims {
  let best: Dims = unknownDims;
  const limit = Math.min(b.length, 1 << 16);
  for (let at = 4; at + 16 <= limit; at++) {
    if (b[at] !== 0x69 || ascii(b, at, 4) !== 'ispe') continue;
    const width = u32be(b, at + 8);
    const height = u32be(b, at + 12);
    if (best.width === null || width * height > best.width * (best.height ?? 0)) best = { width, height };
  }
  return best;
}

/** The name of a known image-like format we cannot use, or null. */
export function sniffOtherFormat(b: Uint8Array, opts: { mime?: string; filename?: string } = {}): string | null {
  if (b.length >= 5 && ascii(b, 0, 5) === '%PDF-') return 'PDF';
  if (b.length >= 4 && (ascii(b, 0, 4) === '%!PS' || startsWith(b, [0xc5, 0xd0, 0xd3, 0xc6]))) return 'PostScript/EPS';
  if (b.length >= 4 && ascii(b, 0, 4) === '8BPS') return 'Photoshop (PSD)';
  if (startsWith(b, [0xff, 0x0a]) || startsWith(b, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'JPEG XL';
  if (startsWith(b, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(b, [0xff, 0x4f, 0xff, 0x51])) return 'JPEG 2000';
  if (startsWith(b, [0, 0, 1, 0]) || startsWith(b, [0, 0, 2, 0])) return 'Icon (ICO/CUR)';
  const brands = ftypBrands(b);
  if (brands) {
    const heif = ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1'];
    if (brands.some((x) => heif.includes(x))) return 'HEIC/HEIF';
  }
  if (isSvg(b)) return 'SVG';
  const mime = (opts.mime ?? '').toLowerCase();
  const ext = (opts.filename ?? '').toLowerCase().match(/\.([a-z0-9]+)$/)?.[1] ?? '';
  if (mime === 'image/svg+xml' || ext === 'svg' || ext === 'svgz') return 'SVG';
  if (/^image\/hei[cf]/.test(mime) || ['heic', 'heif', 'hif'].includes(ext)) return 'HEIC/HEIF';
  if (mime === 'application/pdf' || ext === 'pdf') return 'PDF';
  if (mime === 'image/jxl' || ext === 'jxl') return 'JPEG XL';
  if (['image/jp2', 'image/jpx', 'image/jpm'].includes(mime) || ['jp2', 'j2k', 'jpx', 'jpf'].includes(ext)) return 'JPEG 2000';
  if (['ico', 'cur'].includes(ext) || mime === 'image/x-icon' || mime === 'image/vnd.microsoft.icon') return 'Icon (ICO/CUR)';
  if (ext === 'psd' || mime === 'image/vnd.adobe.photoshop') return 'Photoshop (PSD)';
  if (['cr2', 'cr3', 'nef', 'arw', 'dng', 'orf', 'rw2', 'raf'].includes(ext)) return 'Camera raw';
  return null;
}

function isSvg(b: Uint8Array): boolean {
  const head = new TextDecoder('utf-8', { fatal: false }).decode(b.subarray(0, 2048)).replace(/^\uFEFF/, '').trimStart();
  return head.startsWith('<') && /<svg[\s>]/i.test(head);
}

function looksLikeText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 4096);
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 127)) printable++;
    else if (c === 0) return false;
  }
  if (printable < n * 0.95) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(0, n - 4 > 0 ? n - 4 : n));
    return true;
  } catch {
    return false;
  }
}

// --- BMP (uncompressed and bit-field kinds; RLE and embedded JPEG/PNG go to the platform decoder) ---

/** Decodes common BMPs to RGBA; null for kinds it does not handle; throws when the file is cut short. */
export function decodeBmp(b: Uint8Array): RawImage | null {
  const damaged = () => new AtmanError('IMAGE_DAMAGED', 'This BMP image is damaged or cut short.');
  if (b.length < 26) throw damaged();
  const dataOffset = u32le(b, 10);
  const dib = u32le(b, 14);
  let width: number, height: number, bpp: number, compression = 0, colorsUsed = 0;
  let paletteAt: number, paletteEntry: number;
  if (dib === 12) {
    width = u16le(b, 18);
    height = u16le(b, 20);
    bpp = u16le(b, 24);
    paletteAt = 14 + 12;
    paletteEntry = 3;
  } else if (dib >= 40) {
    if (b.length < 54) throw damaged();
    width = i32le(b, 18);
    height = i32le(b, 22);
    bpp = u16le(b, 28);
    compression = u32le(b, 30);
    colorsUsed = u32le(b, 46);
    paletteAt = 14 + dib + (dib === 40 && compression === 3 ? 12 : 0) + (dib === 40 && compression === 6 ? 16 : 0);
    paletteEntry = 4;
  } else {
    return null;
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height === 0) return new RawImage(new Uint8ClampedArray(0), Math.max(width, 0), height, 4);
  let masks: [number, number, number, number] | null = null;
  if (compression === 3 || compression === 6) {
    if (b.length < 66) throw damaged();
    masks = [u32le(b, 54), u32le(b, 58), u32le(b, 62), compression === 6 || dib >= 56 ? u32le(b, 66) : 0];
  } else if (compression !== 0) {
    return null;
  }
  if (bpp === 16 && !masks) masks = [0x7c00, 0x03e0, 0x001f, 0];
  if (bpp === 32 && !masks) masks = [0xff0000, 0xff00, 0xff, 0];
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) return null;
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + stride * height > b.length) throw damaged();
  let palette: Uint8Array | null = null;
  if (bpp <= 8) {
    const count = colorsUsed || 1 << bpp;
    if (paletteAt + count * paletteEntry > b.length) throw damaged();
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < count && i < 256; i++) {
      palette[3 * i] = b[paletteAt + i * paletteEntry + 2]!;
      palette[3 * i + 1] = b[paletteAt + i * paletteEntry + 1]!;
      palette[3 * i + 2] = b[paletteAt + i * paletteEntry]!;
    }
  }
  const channel = (v: number, mask: number): number => {
    if (!mask) return 255;
    let shift = 0;
    while (((mask >>> shift) & 1) === 0) shift++;
    const max = mask >>> shift;
    return Math.round((((v & mask) >>> shift) * 255) / max);
  };
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (palette) {
        const bit = x * bpp;
        const byte = b[row + (bit >> 3)]!;
        const idx = (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        out[o] = palette[3 * idx]!;
        out[o + 1] = palette[3 * idx + 1]!;
        out[o + 2] = palette[3 * idx + 2]!;
        out[o + 3] = 255;
      } else if (bpp === 24) {
        out[o] = b[row + 3 * x + 2]!;
        out[o + 1] = b[row + 3 * x + 1]!;
        out[o + 2] = b[row + 3 * x]!;
        out[o + 3] = 255;
      } else {
        const v = bpp === 16 ? u16le(b, row + 2 * x) : u32le(b, row + 4 * x);
        const [mr, mg, mb, ma] = masks!;
        out[o] = channel(v, mr);
        out[o + 1] = channel(v, mg);
        out[o + 2] = channel(v, mb);
        out[o + 3] = channel(v, ma);
      }
    }
  }
  return new RawImage(out, width, height, 4);
}
