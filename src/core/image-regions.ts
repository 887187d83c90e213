// Where each image token of a vision-language model looks: the region of the ORIGINAL image it
// covers, so a token's score can be drawn over the picture the user gave.
//
// Processors only ever stretch, crop, pad and cut the image, so every frame the vision encoder sees
// is an axis-aligned window of the original (possibly reaching past its edges into padding), and a
// frame's tokens split that window into an even grid. Resizing is treated as a continuous stretch
// (pixel centres and resampling kernels are ignored): half a resized pixel is far below what a
// heatmap can show.

import { AtmanError } from './errors';

export interface Size {
  width: number;
  height: number;
}

/** An axis-aligned rectangle in pixels (floats allowed). */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * How a processor turns the original image into its canvas: a stretch of the whole image to
 * `resized`, then an optional window `crop` of it (in resized pixels; it may reach past the
 * resized image, which is how a centre crop of a small image pads), then optional padding at the
 * bottom and right up to `padTo`.
 */
export interface CanvasGeometry {
  resized: Size;
  crop?: Rect | null;
  padTo?: Size | null;
}

/**
 * Idefics3 / SmolVLM. `canvas` is what preprocess() produces. With `split`, the canvas is stretched
 * to `split.size` (multiples of the tile size), cut into tiles of at most `split.tileSize` pixels a
 * side (the last row and column anchored at the bottom/right edge, as the processor does), and
 * followed by a global frame: the whole canvas. Without it there is only the global frame.
 * Every frame yields a `grid` x `grid` token grid (after pixel shuffle), row-major.
 */
export interface Idefics3Geometry {
  kind: 'idefics3';
  canvas: CanvasGeometry;
  split: { size: Size; tileSize: number } | null;
  grid: number;
}

/**
 * ViT-style encoders: `prefixTokens` whole-image tokens (1 = CLS; 2 = DeiT's CLS and distillation
 * tokens), then a rows x cols grid of patches over the canvas, row-major.
 */
export interface VitGeometry {
  kind: 'vit';
  canvas: CanvasGeometry;
  grid: { rows: number; cols: number };
  prefixTokens: number;
}

export type ImageGeometry = Idefics3Geometry | VitGeometry;

export type FrameKind = 'tile' | 'global' | 'image' | 'cls' | 'distillation';

export interface FrameInfo {
  /** 'tile r,c' (1-based, like the processor's <row_r_col_c> markers), 'global', 'image', 'cls', 'distillation' */
  label: string;
  kind: FrameKind;
  /** position of the frame in sequence order */
  index: number;
  /** tile row/column (0-based) for tiles; -1 otherwise */
  tileRow: number;
  tileCol: number;
  /** token grid of the frame; 1 x 1 for a whole-image token (CLS) */
  rows: number;
  cols: number;
  /** index of the frame's first token in the image's token list */
  firstToken: number;
  /** what the frame shows, in original pixels, clipped to the image (padding excluded) */
  region: Rect;
}

export interface TokenRegion {
  frame: string;
  frameKind: FrameKind;
  frameIndex: number;
  /** row/column in the frame's grid (0 for a whole-image token) */
  row: number;
  col: number;
  /** in original pixels, clipped to the image; width or height 0 when the token sees only padding */
  region: Rect;
}

/** The number of tiles a canvas of `size` is cut into (0 x 0 when it fits one tile), as Idefics3's split_image does. */
export function idefics3TileCounts(size: Size, tileSize: number): { rows: number; cols: number } {
  if (size.height > tileSize || size.width > tileSize) {
    return { rows: Math.ceil(size.height / tileSize), cols: Math.ceil(size.width / tileSize) };
  }
  return { rows: 0, cols: 0 };
}

/** Tile windows in the split canvas, row-major; the last row/column is anchored at the far edge. */
export function idefics3TileRects(size: Size, tileSize: number): Rect[] {
  const { rows, cols } = idefics3TileCounts(size, tileSize);
  const th = Math.ceil(size.height / Math.max(rows, 1));
  const tw = Math.ceil(size.width / Math.max(cols, 1));
  const out: Rect[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const top = r === rows - 1 ? size.height - th : r * th;
      const left = c === cols - 1 ? size.width - tw : c * tw;
      out.push({ left, top, width: tw, height: th });
    }
  }
  return out;
}

/** The number of image tokens the geometry yields. */
export function imageTokenCount(geometry: ImageGeometry): number {
  checkGeometry(geometry);
  if (geometry.kind === 'vit') return geometry.prefixTokens + geometry.grid.rows * geometry.grid.cols;
  const tiles = geometry.split ? idefics3TileRects(geometry.split.size, geometry.split.tileSize).length : 0;
  return (tiles + 1) * geometry.grid * geometry.grid;
}

/** The frames of an image in sequence order. */
export function imageFrames(original: Size, geometry: ImageGeometry): FrameInfo[] {
  checkSize(original, 'original image');
  checkGeometry(geometry);
  const toOriginal = canvasToOriginal(original, geometry.canvas);
  const canvas = canvasSize(geometry.canvas);
  const whole: Rect = { left: 0, top: 0, width: canvas.width, height: canvas.height };
  const frames: FrameInfo[] = [];
  let firstToken = 0;
  const push = (f: Omit<FrameInfo, 'index' | 'firstToken' | 'region'>, canvasRect: Rect) => {
    frames.push({ ...f, index: frames.length, firstToken, region: clipRect(toOriginal(canvasRect), original) });
    firstToken += f.rows * f.cols;
  };
  if (geometry.kind === 'vit') {
    const names: FrameKind[] = ['cls', 'distillation'];
    for (let i = 0; i < geometry.prefixTokens; i++) {
      const kind = names[i] ?? 'cls';
      push({ label: i < names.length ? kind : `prefix ${i + 1}`, kind, tileRow: -1, tileCol: -1, rows: 1, cols: 1 }, whole);
    }
    push({ label: 'image', kind: 'image', tileRow: -1, tileCol: -1, rows: geometry.grid.rows, cols: geometry.grid.cols }, whole);
    return frames;
  }
  const g = geometry.grid;
  if (geometry.split) {
    const { size, tileSize } = geometry.split;
    const { cols } = idefics3TileCounts(size, tileSize);
    // The split canvas is a stretch of the whole preprocessed canvas.
    const sx = canvas.width / size.width;
    const sy = canvas.height / size.height;
    idefics3TileRects(size, tileSize).forEach((t, i) => {
      const r = Math.floor(i / cols);
      const c = i % cols;
      push(
        { label: `tile ${r + 1},${c + 1}`, kind: 'tile', tileRow: r, tileCol: c, rows: g, cols: g },
        { left: t.left * sx, top: t.top * sy, width: t.width * sx, height: t.height * sy },
      );
    });
  }
  push({ label: 'global', kind: 'global', tileRow: -1, tileCol: -1, rows: g, cols: g }, whole);
  return frames;
}

/** Every image token in sequence order with the region of the original image it covers. */
export function imageTokenRegions(original: Size, geometry: ImageGeometry): TokenRegion[] {
  const toOriginal = canvasToOriginal(original, geometry.canvas);
  const canvas = canvasSize(geometry.canvas);
  const out: TokenRegion[] = [];
  for (const f of imageFrames(original, geometry)) {
    const canvasRect = frameCanvasRect(f, geometry, canvas);
    for (let row = 0; row < f.rows; row++) {
      for (let col = 0; col < f.cols; col++) {
        const cell: Rect = {
          left: canvasRect.left + (col * canvasRect.width) / f.cols,
          top: canvasRect.top + (row * canvasRect.height) / f.rows,
          width: canvasRect.width / f.cols,
          height: canvasRect.height / f.rows,
        };
        out.push({ frame: f.label, frameKind: f.kind, frameIndex: f.index, row, col, region: clipRect(toOriginal(cell), original) });
      }
    }
  }
  return out;
}

/** The size of the canvas after crop and padding. */
export function canvasSize(c: CanvasGeometry): Size {
  const base = c.crop ? { width: c.crop.width, height: c.crop.height } : { ...c.resized };
  if (c.padTo) return { width: Math.max(base.width, c.padTo.width), height: Math.max(base.height, c.padTo.height) };
  return base;
}

/** Maps a rectangle in canvas pixels to original-image pixels (unclipped). */
export function canvasToOriginal(original: Size, c: CanvasGeometry): (r: Rect) => Rect {
  const sx = original.width / c.resized.width;
  const sy = original.height / c.resized.height;
  const dx = c.crop?.left ?? 0;
  const dy = c.crop?.top ?? 0;
  return (r) => ({ left: (r.left + dx) * sx, top: (r.top + dy) * sy, width: r.width * sx, height: r.height * sy });
}

/** The part of `r` inside the image; an empty rectangle at the nearest edge when they do not meet. */
export function clipRect(r: Rect, image: Size): Rect {
  const left = Math.min(Math.max(r.left, 0), image.width);
  const top = Math.min(Math.max(r.top, 0), image.height);
  const right = Math.min(Math.max(r.left + r.width, 0), image.width);
  const bottom = Math.min(Math.max(r.top + r.height, 0), image.height);
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

function frameCanvasRect(f: FrameInfo, geometry: ImageGeometry, canvas: Size): Rect {
  if (f.kind === 'tile' && geometry.kind === 'idefics3' && geometry.split) {
    const { size, tileSize } = geometry.split;
    const { cols } = idefics3TileCounts(size, tileSize);
    const t = idefics3TileRects(size, tileSize)[f.tileRow * cols + f.tileCol]!;
    const sx = canvas.width / size.width;
    const sy = canvas.height / size.height;
    return { left: t.left * sx, top: t.top * sy, width: t.width * sx, height: t.height * sy };
  }
  return { left: 0, top: 0, width: canvas.width, height: canvas.height };
}

const positiveInt = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0;

function checkSize(s: Size, what: string): void {
  if (!(s.width > 0 && s.height > 0 && Number.isFinite(s.width) && Number.isFinite(s.height))) {
    throw new AtmanError('IMAGE_EMPTY', `The ${what} has no pixels (${s.width} x ${s.height}).`);
  }
}

function checkGeometry(g: ImageGeometry): void {
  checkSize(g.canvas.resized, 'resized image');
  const c = g.canvas.crop;
  if (c && !(c.width > 0 && c.height > 0)) throw new RangeError(`crop window ${c.width} x ${c.height} is empty`);
  if (g.kind === 'vit') {
    if (!positiveInt(g.grid.rows) || !positiveInt(g.grid.cols)) throw new RangeError(`patch grid ${g.grid.rows} x ${g.grid.cols} is not positive`);
    if (!(Number.isInteger(g.prefixTokens) && g.prefixTokens >= 0)) throw new RangeError(`prefix token count ${g.prefixTokens} is invalid`);
  } else {
    if (!positiveInt(g.grid)) throw new RangeError(`token grid ${g.grid} is not positive`);
    if (g.split && !(positiveInt(g.split.tileSize) && positiveInt(g.split.size.width) && positiveInt(g.split.size.height))) {
      throw new RangeError('split canvas and tile size must be positive integers');
    }
  }
}

// ---------- how much of a token's region a drawn shape covers ----------

export type ImageShape =
  | { kind: 'rect'; rect: Rect }
  /** a simple polygon (either winding), vertices in original pixels */
  | { kind: 'polygon'; points: Array<[number, number]> }
  /** a mask stretched over the whole image: a non-zero value selects its cell */
  | { kind: 'mask'; width: number; height: number; data: ArrayLike<number> };

/** The area of a region that a drawn shape covers, in square pixels of the original picture. */
export function coverageFn(shape: ImageShape, image: Size): (r: Rect) => number {
  switch (shape.kind) {
    case 'rect': {
      const s = shape.rect;
      if (!(s.width > 0 && s.height > 0)) throw new AtmanError('BAD_SETTING', 'The drawn rectangle is empty; drag to draw one.');
      return (r) => overlap1d(r.left, r.width, s.left, s.width) * overlap1d(r.top, r.height, s.top, s.height);
    }
    case 'polygon': {
      const pts = shape.points;
      if (pts.length < 3 || !(Math.abs(polygonArea(pts)) > 0)) {
        throw new AtmanError('BAD_SETTING', 'The drawn outline encloses no area; draw at least three points around something.');
      }
      return (r) => Math.abs(polygonArea(clipPolygonToRect(pts, r)));
    }
    case 'mask':
      return maskCoverage(shape, image);
  }
}

const overlap1d = (a: number, la: number, b: number, lb: number) => Math.max(0, Math.min(a + la, b + lb) - Math.max(a, b));

function polygonArea(pts: Array<[number, number]>): number {
  let s = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x0, y0] = pts[i]!;
    const [x1, y1] = pts[(i + 1) % pts.length]!;
    s += x0 * y1 - x1 * y0;
  }
  return s / 2;
}

// Sutherland–Hodgman against a rectangle (convex): for any simple subject polygon the result may
// contain zero-width slivers along the edges, but its signed area is exactly the overlap's.
function clipPolygonToRect(pts: Array<[number, number]>, r: Rect): Array<[number, number]> {
  const edges: Array<[(p: [number, number]) => number]> = [
    [(p) => p[0] - r.left],
    [(p) => r.left + r.width - p[0]],
    [(p) => p[1] - r.top],
    [(p) => r.top + r.height - p[1]],
  ];
  let poly = pts;
  for (const [inside] of edges) {
    if (poly.length === 0) break;
    const next: Array<[number, number]> = [];
    for (let i = 0; i < poly.length; i++) {
      const a = poly[i]!;
      const b = poly[(i + 1) % poly.length]!;
      const da = inside(a);
      const db = inside(b);
      if (da >= 0) next.push(a);
      if ((da >= 0) !== (db >= 0)) {
        const t = da / (da - db);
        next.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
      }
    }
    poly = next;
  }
  return poly;
}

// A summed-area table read with bilinear interpolation gives the exact integral of the
// cell-wise constant mask over any float rectangle.
function maskCoverage(m: { width: number; height: number; data: ArrayLike<number> }, image: Size): (r: Rect) => number {
  const { width: w, height: h } = m;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0) || m.data.length < w * h) {
    throw new AtmanError('BAD_SETTING', `The drawn mask is malformed (${w} x ${h} with ${m.data.length} values).`);
  }
  const sat = new Float64Array((w + 1) * (h + 1));
  let any = false;
  for (let y = 0; y < h; y++) {
    let rowSum = 0;
    for (let x = 0; x < w; x++) {
      const on = m.data[y * w + x] ? 1 : 0;
      any ||= on === 1;
      rowSum += on;
      sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1]! + rowSum;
    }
  }
  if (!any) throw new AtmanError('BAD_SETTING', 'The drawn mask is empty; paint over part of the picture.');
  const at = (x: number, y: number): number => {
    const cx = Math.min(Math.max(x, 0), w);
    const cy = Math.min(Math.max(y, 0), h);
    const x0 = Math.min(Math.floor(cx), w - 1);
    const y0 = Math.min(Math.floor(cy), h - 1);
    const fx = cx - x0;
    const fy = cy - y0;
    const s = (xx: number, yy: number) => sat[yy * (w + 1) + xx]!;
    return (
      s(x0, y0) * (1 - fx) * (1 - fy) + s(x0 + 1, y0) * fx * (1 - fy) + s(x0, y0 + 1) * (1 - fx) * fy + s(x0 + 1, y0 + 1) * fx * fy
    );
  };
  // Mask cells to image pixels.
  const sx = image.width / w;
  const sy = image.height / h;
  return (r) => {
    const x0 = r.left / sx;
    const x1 = (r.left + r.width) / sx;
    const y0 = r.top / sy;
    const y1 = (r.top + r.height) / sy;
    return (at(x1, y1) - at(x0, y1) - at(x1, y0) + at(x0, y0)) * sx * sy;
  };
}
