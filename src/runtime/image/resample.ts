// Picture resizing that gives the same pixels in Node and in every browser. transformers.js
// resizes with sharp in Node and with a canvas in the browser, which round differently, so a
// resized picture would score differently in the two and a share link would not reproduce its
// explanation. The engine resizes first with this filter; the processor then finds the picture at
// its target size and leaves it as it is.
//
// The filter is PIL's antialiased bilinear: a triangle whose radius grows with the shrink factor,
// applied along rows, then columns; only + * / on doubles, so every engine computes the same bytes.

/** Resizes interleaved 8-bit pixels (`channels` per pixel) from w x h to W x H. */
export function resamplePixels(src: ArrayLike<number>, w: number, h: number, channels: number, W: number, H: number): Uint8ClampedArray {
  if (!(w > 0 && h > 0 && W > 0 && H > 0)) throw new RangeError(`cannot resize ${w}x${h} to ${W}x${H}`);
  const across = weights(w, W);
  const down = weights(h, H);
  const rows = new Float64Array(h * W * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < W; x++) {
      const { first, k } = across[x]!;
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let i = 0; i < k.length; i++) sum += k[i]! * src[((y * w) + first + i) * channels + c]!;
        rows[(y * W + x) * channels + c] = sum;
      }
    }
  }
  const out = new Uint8ClampedArray(H * W * channels);
  for (let y = 0; y < H; y++) {
    const { first, k } = down[y]!;
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let i = 0; i < k.length; i++) sum += k[i]! * rows[((first + i) * W + x) * channels + c]!;
        // Uint8ClampedArray rounds half to even; round half up explicitly, like PIL.
        out[(y * W + x) * channels + c] = Math.floor(sum + 0.5);
      }
    }
  }
  return out;
}

/** For each output coordinate: the first input coordinate it reads and the normalised weights. */
function weights(n: number, N: number): Array<{ first: number; k: Float64Array }> {
  const scale = n / N;
  const support = Math.max(1, scale);
  return Array.from({ length: N }, (_, j) => {
    const centre = (j + 0.5) * scale;
    const first = Math.max(0, Math.floor(centre - support));
    const last = Math.min(n, Math.ceil(centre + support));
    const k = new Float64Array(last - first);
    let total = 0;
    for (let i = first; i < last; i++) {
      const t = Math.abs((i + 0.5 - centre) / support);
      const v = t < 1 ? 1 - t : 0;
      k[i - first] = v;
      total += v;
    }
    for (let i = 0; i < k.length; i++) k[i] = k[i]! / total;
    return { first, k };
  });
}
