// What kind of image some bytes are, and how big, read from the header alone: names and MIME
// types lie, and a tiny file may claim a gigapixel image, so nothing is decoded before this says
// the format is one the engine reads and the size is within bounds.
import { AtmanError } from '../../core/errors';

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'avif' | 'tiff';

export interface ImageHeader {
  format: ImageFormat;
  /** null when the header does not say (or we do not read it for this format) */
  width: number | null;
  height: number | null;
}

// --- sniffing ---

export const ascii = (b: Uint8Array, at: number, len: number) => String.fromCharCode(...b.subarray(at, at + len));
export const u16be = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
export const u32be = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
export const u16le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
export const u32le = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
export const i32le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);

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

export function looksLikeText(b: Uint8Array): boolean {
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

