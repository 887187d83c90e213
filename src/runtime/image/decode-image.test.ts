import { RawImage } from '@huggingface/transformers';
import sharp from 'sharp';
import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBmp, decodeImage, readImageHeader, toRgb8, type DecodeImageOptions } from './decode-image';
import { expectCode } from '../../testing/expect-code';

const W = 5;
const H = 3;
// Pixel i: RGB (200, 10, 30) + 5i on red, alpha 255 / 128 / 0 cycling.
function rgbaPixels(): Buffer {
  const b = Buffer.alloc(W * H * 4);
  for (let i = 0; i < W * H; i++) b.set([200 + i, 10, 30, [255, 128, 0][i % 3]!], i * 4);
  return b;
}
const composite = (c: number, a: number) => Math.round((c * a + (255 - a) * 255) / 255);
const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const raw = (data: Buffer, channels: 1 | 2 | 3 | 4, width = W, height = H) => sharp(data, { raw: { width, height, channels } });


function pixel(img: RawImage, i: number): number[] {
  return Array.from(img.data.subarray(i * 3, i * 3 + 3));
}

// A PNG with the given IHDR and 16-bit big-endian samples per row (filter 0).
function pngFile(width: number, height: number, depth: 8 | 16, colourType: number, row: (y: number) => number[]): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([depth, colourType, 0, 0, 0], 8);
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const values = row(y);
    const b = Buffer.alloc(1 + values.length * (depth / 8));
    values.forEach((v, i) => (depth === 16 ? b.writeUInt16BE(v, 1 + 2 * i) : b.writeUInt8(v, 1 + i)));
    rows.push(b);
  }
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return u8(Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]));
}

describe('decodeImage: colour handling', () => {
  it('composites RGBA on white', async () => {
    const png = await raw(rgbaPixels(), 4).png().toBuffer();
    const d = await decodeImage(u8(png));
    expect(d).toMatchObject({ format: 'png', width: W, height: H, hadTransparency: true });
    expect(d.image.channels).toBe(3);
    expect(d.image.data).toBeInstanceOf(Uint8ClampedArray);
    for (let i = 0; i < W * H; i++) {
      const a = [255, 128, 0][i % 3]!;
      expect(pixel(d.image, i)).toEqual([composite(200 + i, a), composite(10, a), composite(30, a)]);
    }
    expect(pixel(d.image, 2)).toEqual([255, 255, 255]);
  });

  it('reduces 16-bit PNGs (RGB and RGBA) to 8 bits', async () => {
    // written by hand so the samples are true 16-bit values, not 8-bit ones scaled by 257
    const samples = (i: number) => [0xffff, 0x8123, 0x0100 * (10 * i) + 0x7f, i % 2 ? 0 : 0xffff];
    const rgba = pngFile(W, H, 16, 6, (y) => Array.from({ length: W }, (_, x) => samples(y * W + x)).flat());
    const d = await decodeImage(rgba);
    expect(d.hadTransparency).toBe(true);
    for (let i = 0; i < W * H; i++) {
      const want = i % 2 ? [255, 255, 255] : [255, 0x81, 10 * i];
      pixel(d.image, i).forEach((v, k) => expect(Math.abs(v - want[k]!), `pixel ${i}`).toBeLessThanOrEqual(1));
    }
    const rgb = pngFile(W, H, 16, 2, (y) => Array.from({ length: W }, (_, x) => samples(y * W + x).slice(0, 3)).flat());
    const e = await decodeImage(rgb);
    expect(e.hadTransparency).toBe(false);
    pixel(e.image, 3).forEach((v, k) => expect(Math.abs(v - [255, 0x81, 30][k]!)).toBeLessThanOrEqual(1));
  });

  it('expands greyscale and greyscale+alpha', async () => {
    const grey = Buffer.from(Array.from({ length: W * H }, (_, i) => i * 10));
    const g = await raw(grey, 1).toColourspace('b-w').png().toBuffer();
    expect(g[25]).toBe(0); // IHDR colour type: greyscale
    const d = await decodeImage(u8(g));
    expect(pixel(d.image, 7)).toEqual([70, 70, 70]);
    const ga = Buffer.alloc(W * H * 2);
    for (let i = 0; i < W * H; i++) ga.set([i * 10, i % 2 ? 0 : 255], 2 * i);
    const gaPng = await raw(ga, 2).toColourspace('b-w').png().toBuffer();
    expect(gaPng[25]).toBe(4); // greyscale + alpha
    const e = await decodeImage(u8(gaPng));
    expect(e.hadTransparency).toBe(true);
    expect(pixel(e.image, 4)).toEqual([40, 40, 40]);
    expect(pixel(e.image, 5)).toEqual([255, 255, 255]);
  });

  it('reads palette PNGs, CMYK JPEGs and honours EXIF orientation', async () => {
    const two = Buffer.alloc(W * H * 3);
    for (let i = 0; i < W * H; i++) two.set(i < 7 ? [255, 0, 0] : [0, 0, 255], 3 * i);
    const pal = await raw(two, 3).png({ palette: true, colours: 2, dither: 0 }).toBuffer();
    expect(pal[25]).toBe(3); // IHDR colour type: palette
    const p = await decodeImage(u8(pal));
    expect(pixel(p.image, 0)).toEqual([255, 0, 0]);
    expect(pixel(p.image, 14)).toEqual([0, 0, 255]);

    const red = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < 256; i++) red.set([220, 20, 20], 3 * i);
    const cmyk = await raw(red, 3, 16, 16).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const c = await decodeImage(u8(cmyk));
    expect(c.format).toBe('jpeg');
    const [r, g, b] = pixel(c.image, 100);
    expect(r).toBeGreaterThan(180);
    expect(g).toBeLessThan(70);
    expect(b).toBeLessThan(70);

    const wide = await raw(red.subarray(0, 4 * 2 * 3), 3, 4, 2).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const o = await decodeImage(u8(wide));
    expect([o.width, o.height, o.image.width, o.image.height]).toEqual([2, 4, 2, 4]);
  });

  it('decodes GIF, WebP, TIFF and AVIF, and takes a Blob', async () => {
    const rgb = Buffer.alloc(8 * 6 * 3, 0);
    for (let i = 0; i < 48; i++) rgb.set(i % 2 ? [0, 0, 0] : [255, 255, 255], 3 * i);
    const base = () => raw(rgb, 3, 8, 6);
    const cases: Array<[string, Buffer]> = [
      ['gif', await base().gif().toBuffer()],
      ['webp', await base().webp({ lossless: true }).toBuffer()],
      ['tiff', await base().tiff().toBuffer()],
      ['avif', await base().avif({ lossless: true }).toBuffer()],
    ];
    for (const [format, bytes] of cases) {
      expect(readImageHeader(u8(bytes))).toEqual({ format, width: 8, height: 6 });
      const d = await decodeImage(new Blob([new Uint8Array(bytes)]), { filename: `x.${format}` });
      expect([d.format, d.width, d.height, d.image.channels]).toEqual([format, 8, 6, 3]);
      expect(pixel(d.image, 0)[0]).toBeGreaterThan(200);
      expect(pixel(d.image, 1)[0]).toBeLessThan(50);
    }
  });
});

// --- BMP, written by hand (sharp cannot write BMP) ---

function bmp(width: number, height: number, bpp: number, rows: (y: number) => number[], opts: { palette?: number[][]; masks?: number[]; topDown?: boolean } = {}): Uint8Array {
  const stride = Math.ceil((width * bpp) / 32) * 4;
  const palette = opts.palette ?? [];
  const maskBytes = opts.masks ? opts.masks.length * 4 : 0;
  const offset = 14 + 40 + maskBytes + palette.length * 4;
  const b = Buffer.alloc(offset + stride * height);
  b.write('BM', 0, 'ascii');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(offset, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(opts.topDown ? -height : height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(bpp, 28);
  b.writeUInt32LE(opts.masks ? (opts.masks.length === 4 ? 6 : 3) : 0, 30);
  b.writeUInt32LE(palette.length, 46);
  opts.masks?.forEach((m, i) => b.writeUInt32LE(m >>> 0, 54 + 4 * i));
  palette.forEach(([r, g, bl], i) => b.set([bl!, g!, r!, 0], 54 + maskBytes + 4 * i));
  for (let y = 0; y < height; y++) {
    const fileRow = opts.topDown ? y : height - 1 - y;
    b.set(rows(y), offset + fileRow * stride);
  }
  return u8(b);
}

describe('BMP', () => {
  it('decodes 24-bit bottom-up, 8-bit and 1-bit palette, 16-bit 565 and 32-bit ARGB top-down', async () => {
    // 3x2: row 0 red green blue, row 1 white black grey
    const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [128, 128, 128]];
    const want = colours;
    const b24 = bmp(3, 2, 24, (y) => colours.slice(3 * y, 3 * y + 3).flatMap(([r, g, b]) => [b!, g!, r!]));
    const b8 = bmp(3, 2, 8, (y) => [3 * y, 3 * y + 1, 3 * y + 2], { palette: colours });
    const b1 = bmp(3, 2, 1, (y) => [y === 0 ? 0b10100000 : 0b01000000], { palette: [[0, 0, 0], [255, 255, 255]] });
    const to565 = ([r, g, b]: number[]) => ((r! >> 3) << 11) | ((g! >> 2) << 5) | (b! >> 3);
    const b16 = bmp(3, 2, 16, (y) => colours.slice(3 * y, 3 * y + 3).flatMap((c) => [to565(c) & 255, to565(c) >> 8]), { masks: [0xf800, 0x07e0, 0x001f] });
    const b32 = bmp(3, 2, 32, (y) => colours.slice(3 * y, 3 * y + 3).flatMap(([r, g, b], x) => [b!, g!, r!, x === 0 && y === 0 ? 0 : 255]), {
      masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000],
      topDown: true,
    });
    const all = async (bytes: Uint8Array) => {
      const d = await decodeImage(bytes);
      expect([d.format, d.width, d.height]).toEqual(['bmp', 3, 2]);
      return Array.from({ length: 6 }, (_, i) => pixel(d.image, i));
    };
    expect(await all(b24)).toEqual(want);
    expect(await all(b8)).toEqual(want);
    expect(await all(b1)).toEqual([[255, 255, 255], [0, 0, 0], [255, 255, 255], [0, 0, 0], [255, 255, 255], [0, 0, 0]]);
    const p16 = await all(b16);
    p16.forEach((p, i) => p.forEach((v, k) => expect(Math.abs(v - want[i]![k]!)).toBeLessThanOrEqual(4)));
    expect(await all(b32)).toEqual([[255, 255, 255], ...want.slice(1)]);
  });

  it('reports a BMP cut short as damaged', async () => {
    const b24 = bmp(30, 20, 24, () => []);
    expect(() => decodeBmp(b24.subarray(0, 200))).toThrow(/damaged/);
    await expectCode(decodeImage(b24.subarray(0, 200)), 'IMAGE_DAMAGED', /BMP/);
  });
});

describe('decodeImage: errors a user can meet', () => {
  it('0 bytes -> IMAGE_EMPTY, also as a Blob', async () => {
    await expectCode(decodeImage(new Uint8Array(0), { filename: 'cat.png' }), 'IMAGE_EMPTY', /"cat.png" is empty/);
    await expectCode(decodeImage(new Blob([])), 'IMAGE_EMPTY');
  });

  it('a PNG whose header says 0 x 5 -> IMAGE_EMPTY', async () => {
    const png = Buffer.from(await raw(rgbaPixels(), 4).png().toBuffer());
    png.writeUInt32BE(0, 16);
    await expectCode(decodeImage(u8(png)), 'IMAGE_EMPTY', /no pixels/);
  });

  it('a text file -> IMAGE_NOT_AN_IMAGE, naming the formats that work', async () => {
    const text = new TextEncoder().encode('Hello, this is a note.\nNot a picture.\n');
    const msg = await expectCode(decodeImage(text, { filename: 'notes.png', mime: 'image/png' }), 'IMAGE_NOT_AN_IMAGE', /looks like text/);
    expect(msg).toMatch(/PNG, JPEG, WebP, GIF, BMP, AVIF or TIFF/);
    const noise = new Uint8Array(300).map((_, i) => (i * 37 + 11) % 256);
    noise[0] = 0;
    await expectCode(decodeImage(noise), 'IMAGE_NOT_AN_IMAGE');
  });

  it('SVG, PDF, HEIC and other known formats -> IMAGE_UNSUPPORTED_FORMAT, saying which work', async () => {
    const svg = new TextEncoder().encode('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    const msg = await expectCode(decodeImage(svg), 'IMAGE_UNSUPPORTED_FORMAT', /^SVG files/);
    expect(msg).toMatch(/Use PNG, JPEG/);
    await expectCode(decodeImage(new TextEncoder().encode('%PDF-1.7\n...')), 'IMAGE_UNSUPPORTED_FORMAT', /^PDF/);
    const heic = Buffer.alloc(64);
    heic.writeUInt32BE(24, 0);
    heic.write('ftypheic', 4, 'ascii');
    heic.write('mif1heic', 16, 'ascii');
    await expectCode(decodeImage(u8(heic)), 'IMAGE_UNSUPPORTED_FORMAT', /^HEIC\/HEIF/);
    // an AVIF also carries mif1 but is decodable
    expect(readImageHeader(u8(await raw(rgbaPixels(), 4).avif().toBuffer()))?.format).toBe('avif');
    await expectCode(decodeImage(new Uint8Array([1, 2, 3, 4, 5]), { filename: 'IMG_0001.HEIC' }), 'IMAGE_UNSUPPORTED_FORMAT', /HEIC/);
  });

  it('a truncated PNG -> IMAGE_DAMAGED', async () => {
    const noise = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251));
    const png = await raw(noise, 3, 64, 64).png({ compressionLevel: 0 }).toBuffer();
    await expectCode(decodeImage(u8(png.subarray(0, Math.floor(png.length * 0.6)))), 'IMAGE_DAMAGED', /PNG .*damaged or cut short/);
  });

  it('a header claiming 100000 x 100000 -> IMAGE_TOO_LARGE before decoding anything', async () => {
    const png = Buffer.from(await raw(rgbaPixels(), 4).png().toBuffer());
    png.writeUInt32BE(100000, 16);
    png.writeUInt32BE(100000, 20);
    await expectCode(decodeImage(u8(png)), 'IMAGE_TOO_LARGE', /100000 × 100000 pixels \(10000 megapixels\); the limit is 40 megapixels/);
    const jpeg = Buffer.from(await raw(rgbaPixels(), 4).removeAlpha().jpeg().toBuffer());
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    jpeg.writeUInt16BE(60000, sof + 5);
    jpeg.writeUInt16BE(60000, sof + 7);
    expect(readImageHeader(u8(jpeg))).toEqual({ format: 'jpeg', width: 60000, height: 60000 });
    await expectCode(decodeImage(u8(jpeg)), 'IMAGE_TOO_LARGE', /3600 megapixels/);
  });

  it('a valid 1 x 2000 PNG, and a header claiming 1 x 39,000,000, -> IMAGE_TOO_THIN from the header', async () => {
    const strip = pngFile(1, 2000, 8, 0, () => [128]);
    expect(readImageHeader(strip)).toEqual({ format: 'png', width: 1, height: 2000 });
    await expectCode(decodeImage(strip), 'IMAGE_TOO_THIN', /^This PNG image is 1 × 2000 pixels, a strip 2000 times longer than it is wide; images up to 200:1 are accepted/);
    // the header alone is enough: the picture data is cut off after it, so a decode would fail differently
    const long = Buffer.from(pngFile(1, 2, 8, 0, () => [128]));
    long.writeUInt32BE(39_000_000, 20);
    const t0 = performance.now();
    await expectCode(decodeImage(u8(long.subarray(0, 40))), 'IMAGE_TOO_THIN', /1 × 39000000 pixels/);
    console.log(`1 x 39,000,000 header refused in ${(performance.now() - t0).toFixed(1)} ms`);
    // 200:1 itself decodes
    expect(await decodeImage(pngFile(200, 1, 8, 0, () => Array(200).fill(7)))).toMatchObject({ width: 200, height: 1 });
  });

  it('enforces the byte and pixel limits it is given', async () => {
    const png = u8(await raw(rgbaPixels(), 4).png().toBuffer());
    const opts: DecodeImageOptions = { maxBytes: 50, filename: 'a.png' };
    await expectCode(decodeImage(png, opts), 'IMAGE_TOO_LARGE', /"a.png" is \d+ bytes; images up to 50 bytes/);
    await expectCode(decodeImage(png, { maxPixels: 10 }), 'IMAGE_TOO_LARGE', /15 pixels\); the limit is 10 pixels/);
    await expect(decodeImage(png, { maxPixels: 15 })).resolves.toMatchObject({ width: 5 });
  });
});

describe('toRgb8', () => {
  it('copies RGB and refuses odd channel counts', () => {
    const img = new RawImage(new Uint8ClampedArray([1, 2, 3, 4, 5, 6]), 2, 1, 3);
    const out = toRgb8(img);
    expect(Array.from(out.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out.data).not.toBe(img.data);
    expect(() => toRgb8(new RawImage(new Uint8ClampedArray(5), 1, 1, 5 as 4))).toThrow(/5 channels/);
  });

  it('expands 1- and 2-channel images the way a browser canvas or sharp may hand them over', () => {
    expect(Array.from(toRgb8(new RawImage(new Uint8ClampedArray([9, 200]), 2, 1, 1)).data)).toEqual([9, 9, 9, 200, 200, 200]);
    const ga = toRgb8(new RawImage(new Uint8ClampedArray([100, 255, 100, 0, 100, 51]), 3, 1, 2));
    expect(Array.from(ga.data)).toEqual([100, 100, 100, 255, 255, 255, 224, 224, 224]);
  });
});
