// BMP, which sharp cannot read: a small decoder so Node and the browser give the same pixels.
import { RawImage } from '@huggingface/transformers';
import { AtmanError } from '../../core/errors';
import { i32le, u16le, u32le } from './image-header';

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
