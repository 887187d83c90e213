import { describe, expect, it } from 'vitest';
import { resamplePixels } from './resample';

describe('resamplePixels', () => {
  it('keeps a picture of the same size, and a flat picture flat at any size', () => {
    const src = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) % 256);
    expect(Array.from(resamplePixels(src, 5, 3, 3, 5, 3))).toEqual(Array.from(src));
    const flat = new Uint8Array(7 * 4 * 3).fill(123);
    for (const [W, H] of [[3, 2], [14, 9], [1, 1]] as const) expect(new Set(resamplePixels(flat, 7, 4, 3, W, H))).toEqual(new Set([123]));
  });

  it('shrinks with a triangle as wide as the shrink factor (hand-worked, one channel)', () => {
    // 4 -> 2: output 0 is centred at 1.0 with radius 2, reading inputs 0, 1, 2 at weights 0.75, 0.75, 0.25 (/1.75).
    const row = [0, 100, 200, 255];
    const out = resamplePixels(row, 4, 1, 1, 2, 1);
    expect(out[0]).toBe(Math.floor((0.75 * 0 + 0.75 * 100 + 0.25 * 200) / 1.75 + 0.5));
    // output 1 is centred at 3.0: inputs 1, 2, 3 at 0.25, 0.75, 0.75
    expect(out[1]).toBe(Math.floor((0.25 * 100 + 0.75 * 200 + 0.75 * 255) / 1.75 + 0.5));
  });

  it('averages away a fine checkerboard when shrinking (antialiased), and mirrors with its input', () => {
    const n = 16;
    const board = Uint8Array.from({ length: n * n }, (_, i) => ((i % n) + Math.floor(i / n)) % 2 ? 255 : 0);
    const small = resamplePixels(board, n, n, 1, 4, 4);
    for (const v of small) expect(Math.abs(v - 127.5)).toBeLessThan(20);
    const ramp = Uint8Array.from({ length: 9 }, (_, i) => i * 30);
    const mirrored = Uint8Array.from(ramp).reverse();
    expect(Array.from(resamplePixels(mirrored, 9, 1, 1, 4, 1))).toEqual(Array.from(resamplePixels(ramp, 9, 1, 1, 4, 1)).reverse());
  });

  it('refuses empty sizes', () => {
    expect(() => resamplePixels([], 0, 1, 1, 1, 1)).toThrow(RangeError);
  });
});
