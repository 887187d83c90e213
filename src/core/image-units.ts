// Units over the image tokens of a prompt: one per token, coarser tiles of neighbouring tokens,
// whole frames, or one region the user drew on the picture.
//
// Decisions (docs/method.md, "Units": the production grids are 12x12 / 6x6 / 3x3 / 1; the rest is ours):
// - Tiles never cross frames: an Idefics3 image's tiles and its global frame are separate pictures
//   of the same content, each with its own grid.
// - A frame of g tokens a side is cut into k tiles a side, k by granularity: token g, word
//   round(g/2), sentence round(g/4), paragraph 1 (always at least 1). For g = 12 that is the
//   production 12 / 6 / 3 / 1; SmolVLM's g = 8 gives 8 / 4 / 2 / 1, a ViT's 14 gives 14 / 7 / 4 / 1.
//   Rows and columns are grouped independently, as evenly as possible (sizes differ by at most 1,
//   group i covering [floor(i*g/k), floor((i+1)*g/k)) ).
// - Whole-image tokens (a ViT's CLS, DeiT's distillation token) are always their own unit, like
//   special tokens in text: they hold no pixels of their own, and folding them into a tile would mix
//   a learned summary into that tile's score.
// - A drawn region takes every token whose region overlaps it by a positive area (touching an edge
//   does not count), from every frame (tiles and global). Whole-image tokens are left out unless
//   asked for: their "region" is the whole picture, so any drawing would catch them. With
//   tokenOverlap 'partial' each token's factor share is the covered fraction of its area, as text
//   chunks do with partly covered tokens.

import { AtmanError } from './errors';
import { type ImageShape, type Rect, type Size, type TokenRegion, coverageFn } from './image-regions';
import type { Granularity, TokenOverlap, Unit } from './types';

export type ImageGranularity = 'token' | 'word' | 'sentence' | 'paragraph' | { tilesPerSide: number };

/** The tokens of one image in one prompt. */
export interface ImageTokens {
  /** sequence position of each image token, in the order of `regions` */
  positions: number[];
  regions: TokenRegion[];
  /** the original image's size, in the pixels the regions use */
  imageSize: Size;
  /** which image of the prompt (0-based); labels name it when `labelPrefix` is not given */
  imageIndex?: number;
  /** put before every label, e.g. "image 2 · "; default none */
  labelPrefix?: string;
}

export type { ImageShape } from './image-regions';

export interface ImageUnitInfo {
  imageIndex: number;
  /** indices into the image's token list, in sequence order (parallel to Unit.positions) */
  tokens: number[];
  /** frame labels the unit draws from, in sequence order */
  frames: string[];
  /** the unit's area for display: per frame, its tokens' regions merged into few rectangles (frames may overlap each other) */
  regions: Rect[];
  /** bounding box of `regions`, in original pixels */
  bounds: Rect;
  /** the drawn shape, for region units */
  shape?: ImageShape;
}

export interface ImageUnit extends Unit {
  image: ImageUnitInfo;
}

/**
 * The image granularity that goes with a text granularity. Delimiter splits are a sentence-like
 * middle ground; hand-picked chunks give no automatic image units (null): the user draws regions.
 */
export function imageGranularityFor(g: Granularity): ImageGranularity | null {
  switch (g.kind) {
    case 'token':
    case 'word':
    case 'sentence':
    case 'paragraph':
      return g.kind;
    case 'delimiter':
      return 'sentence';
    case 'chunks':
      return null;
    default:
      throw new AtmanError('BAD_SETTING', `Unknown granularity "${(g as { kind: string }).kind}".`);
  }
}

/** Tiles per side for a frame whose grid has `gridSide` tokens a side. */
export function tilesPerSide(gridSide: number, g: ImageGranularity): number {
  if (!(Number.isInteger(gridSide) && gridSide > 0)) throw new RangeError(`grid side ${gridSide} is not a positive integer`);
  let k: number;
  if (typeof g === 'object') {
    if (!(Number.isInteger(g.tilesPerSide) && g.tilesPerSide > 0)) {
      throw new AtmanError('BAD_SETTING', `The number of image tiles per side must be a whole number of at least 1 (got ${g.tilesPerSide}).`);
    }
    k = g.tilesPerSide;
  } else {
    k = { token: gridSide, word: Math.round(gridSide / 2), sentence: Math.round(gridSide / 4), paragraph: 1 }[g];
  }
  return Math.min(gridSide, Math.max(1, k));
}

/** Start of each of k groups over n items, plus n at the end: group i is [b[i], b[i+1]). */
export function groupBounds(n: number, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i <= k; i++) out.push(Math.floor((i * n) / k));
  return out;
}

/** Sequence positions holding `imageTokenId`, in order. */
export function imageTokenPositions(ids: ArrayLike<number>, imageTokenId: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) if (ids[i] === imageTokenId) out.push(i);
  return out;
}

interface Frame {
  label: string;
  kind: TokenRegion['frameKind'];
  rows: number;
  cols: number;
  /** token index at (row, col) */
  at: number[][];
}

/** One unit per tile of every frame, ordered by first position. */
export function buildImageUnits(tokens: ImageTokens, granularity: ImageGranularity): ImageUnit[] {
  const frames = framesOf(tokens);
  const units: ImageUnit[] = [];
  for (const f of frames) {
    if (f.rows * f.cols === 1 && isWholeImage(f.kind)) {
      units.push(makeUnit(tokens, [f.at[0]![0]!], f.label, undefined));
      continue;
    }
    const kr = tilesPerSide(f.rows, granularity);
    const kc = tilesPerSide(f.cols, granularity);
    const rb = groupBounds(f.rows, kr);
    const cb = groupBounds(f.cols, kc);
    for (let i = 0; i < kr; i++) {
      for (let j = 0; j < kc; j++) {
        const members: number[] = [];
        for (let r = rb[i]!; r < rb[i + 1]!; r++) for (let c = cb[j]!; c < cb[j + 1]!; c++) members.push(f.at[r]![c]!);
        units.push(makeUnit(tokens, members, tileLabel(f, rb[i]!, rb[i + 1]!, cb[j]!, cb[j + 1]!), undefined));
      }
    }
  }
  return units.sort((a, b) => Math.min(...a.positions) - Math.min(...b.positions));
}

export interface RegionUnitOptions {
  tokenOverlap: TokenOverlap;
  label?: string;
  /** also take whole-image tokens (CLS); default false */
  includeWholeImageTokens?: boolean;
}

/** One unit holding every image token whose region overlaps the drawn shape. */
export function buildRegionUnit(tokens: ImageTokens, shape: ImageShape, opts: RegionUnitOptions): ImageUnit {
  checkTokens(tokens);
  const covered = coverageFn(shape, tokens.imageSize);
  const members: number[] = [];
  const coverage: number[] = [];
  tokens.regions.forEach((t, i) => {
    if (isWholeImage(t.frameKind) && !opts.includeWholeImageTokens) return;
    const area = t.region.width * t.region.height;
    if (!(area > 0)) return;
    const inside = Math.min(area, covered(t.region));
    // Float noise on a shared edge must not pull a neighbour in.
    if (!(inside > area * 1e-9)) return;
    members.push(i);
    coverage.push(opts.tokenOverlap === 'partial' ? Math.min(1, inside / area) : 1);
  });
  if (members.length === 0) {
    throw new AtmanError('BAD_SETTING', 'The drawn region covers no image token; draw it over the picture.');
  }
  const unit = makeUnit(tokens, members, opts.label ?? `region ${describeShape(shape)}`, shape);
  if (coverage.some((c) => c !== 1)) {
    // Units list positions in sequence order; keep coverage parallel to them.
    const byToken = new Map(members.map((m, j) => [m, coverage[j]!]));
    unit.coverage = unit.image.tokens.map((m) => byToken.get(m)!);
  }
  return unit;
}

/** Area of a rectangle in original pixels that the shape covers. */
export function shapeCoverage(shape: ImageShape, imageSize: Size): (r: Rect) => number {
  return coverageFn(shape, imageSize);
}

const isWholeImage = (k: TokenRegion['frameKind']) => k === 'cls' || k === 'distillation';

function checkTokens(t: ImageTokens): void {
  if (t.positions.length !== t.regions.length) {
    throw new RangeError(`${t.positions.length} image token positions for ${t.regions.length} token regions`);
  }
  const seen = new Set<number>();
  for (const p of t.positions) {
    if (!(Number.isInteger(p) && p >= 0)) throw new RangeError(`image token position ${p} is not a sequence position`);
    if (seen.has(p)) throw new RangeError(`image token position ${p} appears twice`);
    seen.add(p);
  }
}

function framesOf(tokens: ImageTokens): Frame[] {
  checkTokens(tokens);
  const byIndex = new Map<number, Frame>();
  const order: Frame[] = [];
  tokens.regions.forEach((t, i) => {
    let f = byIndex.get(t.frameIndex);
    if (!f) {
      f = { label: t.frame, kind: t.frameKind, rows: 0, cols: 0, at: [] };
      byIndex.set(t.frameIndex, f);
      order.push(f);
    }
    if (!(Number.isInteger(t.row) && Number.isInteger(t.col) && t.row >= 0 && t.col >= 0)) {
      throw new RangeError(`image token ${i} has grid cell (${t.row}, ${t.col})`);
    }
    (f.at[t.row] ??= [])[t.col] = i;
    f.rows = Math.max(f.rows, t.row + 1);
    f.cols = Math.max(f.cols, t.col + 1);
  });
  for (const f of order) {
    for (let r = 0; r < f.rows; r++) {
      for (let c = 0; c < f.cols; c++) {
        if (f.at[r]?.[c] === undefined) throw new RangeError(`frame "${f.label}" has no token at (${r}, ${c})`);
      }
    }
  }
  return order;
}

function tileLabel(f: Frame, r0: number, r1: number, c0: number, c1: number): string {
  if (r0 === 0 && c0 === 0 && r1 === f.rows && c1 === f.cols) return f.label;
  const span = (a: number, b: number) => (b - a === 1 ? `${a + 1}` : `${a + 1}–${b}`);
  if (r1 - r0 === 1 && c1 - c0 === 1) return `${f.label} (${r0 + 1},${c0 + 1})`;
  return `${f.label} rows ${span(r0, r1)}, cols ${span(c0, c1)}`;
}

function makeUnit(tokens: ImageTokens, members: number[], label: string, shape: ImageShape | undefined): ImageUnit {
  const sorted = [...members].sort((a, b) => tokens.positions[a]! - tokens.positions[b]!);
  const frames: string[] = [];
  for (const m of sorted) {
    const name = tokens.regions[m]!.frame;
    if (!frames.includes(name)) frames.push(name);
  }
  const regions = mergeRegions(sorted.map((m) => tokens.regions[m]!));
  const prefix = tokens.labelPrefix ?? '';
  const info: ImageUnitInfo = {
    imageIndex: tokens.imageIndex ?? 0,
    tokens: sorted,
    frames,
    regions,
    bounds: boundsOf(regions),
  };
  if (shape) info.shape = shape;
  return { label: prefix + label, positions: sorted.map((m) => tokens.positions[m]!), source: 'prompt', image: info };
}

// Merges each frame's tokens into row runs, then stacks runs with the same columns, so a tile is one rectangle.
function mergeRegions(regions: TokenRegion[]): Rect[] {
  const byFrame = new Map<number, TokenRegion[]>();
  for (const t of regions) {
    if (!(t.region.width > 0 && t.region.height > 0)) continue;
    const list = byFrame.get(t.frameIndex) ?? [];
    list.push(t);
    byFrame.set(t.frameIndex, list);
  }
  const out: Rect[] = [];
  for (const list of byFrame.values()) {
    list.sort((a, b) => a.row - b.row || a.col - b.col);
    const runs: Array<{ row: number; c0: number; c1: number; rect: Rect }> = [];
    for (const t of list) {
      const last = runs[runs.length - 1];
      if (last && last.row === t.row && last.c1 === t.col) {
        last.c1 = t.col + 1;
        last.rect = union(last.rect, t.region);
      } else {
        runs.push({ row: t.row, c0: t.col, c1: t.col + 1, rect: { ...t.region } });
      }
    }
    const stacked: Array<{ row: number; c0: number; c1: number; rect: Rect }> = [];
    for (const run of runs) {
      const open = stacked.find((s) => s.c0 === run.c0 && s.c1 === run.c1 && s.row === run.row - 1);
      if (open) {
        open.row = run.row;
        open.rect = union(open.rect, run.rect);
      } else {
        stacked.push({ ...run });
      }
    }
    out.push(...stacked.map((s) => s.rect));
  }
  return out;
}

function union(a: Rect, b: Rect): Rect {
  const left = Math.min(a.left, b.left);
  const top = Math.min(a.top, b.top);
  return {
    left,
    top,
    width: Math.max(a.left + a.width, b.left + b.width) - left,
    height: Math.max(a.top + a.height, b.top + b.height) - top,
  };
}

function boundsOf(rects: Rect[]): Rect {
  if (rects.length === 0) return { left: 0, top: 0, width: 0, height: 0 };
  return rects.reduce(union);
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function describeShape(s: ImageShape): string {
  switch (s.kind) {
    case 'rect':
      return `${round1(s.rect.left)},${round1(s.rect.top)} ${round1(s.rect.width)}×${round1(s.rect.height)}`;
    case 'polygon':
      return `(${s.points.length}-sided)`;
    case 'mask':
      return '(mask)';
  }
}
