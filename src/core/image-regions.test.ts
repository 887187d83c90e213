import { describe, expect, it } from 'vitest';
import {
  canvasSize,
  idefics3TileCounts,
  idefics3TileRects,
  imageFrames,
  imageTokenCount,
  imageTokenRegions,
  type ImageGeometry,
  type Rect,
  type Size,
} from './image-regions';

const close = (a: Rect, b: Rect) => {
  expect(a.left).toBeCloseTo(b.left, 9);
  expect(a.top).toBeCloseTo(b.top, 9);
  expect(a.width).toBeCloseTo(b.width, 9);
  expect(a.height).toBeCloseTo(b.height, 9);
};
const R = (left: number, top: number, width: number, height: number): Rect => ({ left, top, width, height });

describe('ViT geometry', () => {
  it('maps CLS and patches of a stretched, centre-cropped non-square image (50x30 -> 32x32 -> crop 24)', () => {
    // resize stretches x by 32/50 and y by 32/30; the crop starts at floor((32-24)/2) = 4 in both.
    const g: ImageGeometry = {
      kind: 'vit',
      canvas: { resized: { width: 32, height: 32 }, crop: R(4, 4, 24, 24) },
      grid: { rows: 3, cols: 3 },
      prefixTokens: 1,
    };
    const t = imageTokenRegions({ width: 50, height: 30 }, g);
    expect(t).toHaveLength(10);
    expect(imageTokenCount(g)).toBe(10);
    expect(t[0]).toMatchObject({ frame: 'cls', frameKind: 'cls', row: 0, col: 0 });
    // x: (0 + 4) * 50/32 = 6.25, width 24 * 50/32 = 37.5; y: 4 * 30/32 = 3.75, height 22.5
    close(t[0]!.region, R(6.25, 3.75, 37.5, 22.5));
    close(t[1]!.region, R(6.25, 3.75, 12.5, 7.5));
    expect(t[6]).toMatchObject({ frame: 'image', row: 1, col: 2 });
    close(t[6]!.region, R((16 + 4) * (50 / 32), (8 + 4) * (30 / 32), 12.5, 7.5));
    close(t[9]!.region, R(31.25, 18.75, 12.5, 7.5));
  });

  it('maps a 1000x200 image stretched to a 14x14 grid without crop', () => {
    const g: ImageGeometry = { kind: 'vit', canvas: { resized: { width: 224, height: 224 } }, grid: { rows: 14, cols: 14 }, prefixTokens: 1 };
    const t = imageTokenRegions({ width: 1000, height: 200 }, g);
    expect(t).toHaveLength(197);
    close(t[0]!.region, R(0, 0, 1000, 200));
    close(t[1]!.region, R(0, 0, 1000 / 14, 200 / 14));
    close(t[196]!.region, R((13 * 1000) / 14, (13 * 200) / 14, 1000 / 14, 200 / 14));
  });

  it('clips padding: a crop larger than the resized image leaves border tokens empty', () => {
    // 20x20 resized, 40x40 crop window from -10: the outer ring of a 4x4 grid (10 px cells) sees only padding.
    const g: ImageGeometry = { kind: 'vit', canvas: { resized: { width: 20, height: 20 }, crop: R(-10, -10, 40, 40) }, grid: { rows: 4, cols: 4 }, prefixTokens: 2 };
    const t = imageTokenRegions({ width: 10, height: 10 }, g);
    expect(t.map((x) => x.frame).slice(0, 3)).toEqual(['cls', 'distillation', 'image']);
    close(t[0]!.region, R(0, 0, 10, 10));
    expect(t[2]!.region.width * t[2]!.region.height).toBe(0);
    // cell (1,1) covers canvas 10..20 -> resized 0..10 -> original 0..5
    const inner = t.find((x) => x.frame === 'image' && x.row === 1 && x.col === 1)!;
    close(inner.region, R(0, 0, 5, 5));
  });

  it('pads at the bottom/right without moving the content', () => {
    const g: ImageGeometry = { kind: 'vit', canvas: { resized: { width: 30, height: 20 }, padTo: { width: 30, height: 30 } }, grid: { rows: 3, cols: 3 }, prefixTokens: 0 };
    expect(canvasSize(g.canvas)).toEqual({ width: 30, height: 30 });
    const t = imageTokenRegions({ width: 60, height: 40 }, g);
    close(t[0]!.region, R(0, 0, 20, 20));
    close(t[3]!.region, R(0, 20, 20, 20));
    expect(t[6]!.region.height).toBe(0);
  });
});

describe('Idefics3 geometry', () => {
  it('maps a 1000x200 image split into 1x4 tiles plus the global frame', () => {
    // preprocess: longest edge 128 -> 128 x floor(25.6) = 25; encoder canvas: 128 x ceil(25/32)*32 = 32.
    const g: ImageGeometry = {
      kind: 'idefics3',
      canvas: { resized: { width: 128, height: 25 } },
      split: { size: { width: 128, height: 32 }, tileSize: 32 },
      grid: 2,
    };
    const frames = imageFrames({ width: 1000, height: 200 }, g);
    expect(frames.map((f) => f.label)).toEqual(['tile 1,1', 'tile 1,2', 'tile 1,3', 'tile 1,4', 'global']);
    close(frames[1]!.region, R(250, 0, 250, 200));
    close(frames[4]!.region, R(0, 0, 1000, 200));
    const t = imageTokenRegions({ width: 1000, height: 200 }, g);
    expect(t).toHaveLength(20);
    // tile 1,2 token (1,0): split canvas (32, 16, 16, 16) -> canvas y * 25/32 -> original x * 1000/128, y * 200/25
    expect(t[6]).toMatchObject({ frame: 'tile 1,2', row: 1, col: 0 });
    close(t[6]!.region, R(250, 100, 125, 100));
    expect(t[17]).toMatchObject({ frame: 'global', row: 0, col: 1 });
    close(t[17]!.region, R(500, 0, 500, 100));
  });

  it('anchors the last tile row and column at the far edge (2x3 tiles, overlapping last column)', () => {
    // split canvas 70x50, tiles <= 30: rows ceil(50/30)=2 of ceil(50/2)=25, cols ceil(70/30)=3 of ceil(70/3)=24;
    // the last column starts at 70-24 = 46, overlapping the middle one (24..48).
    expect(idefics3TileCounts({ width: 70, height: 50 }, 30)).toEqual({ rows: 2, cols: 3 });
    expect(idefics3TileRects({ width: 70, height: 50 }, 30)).toEqual([
      R(0, 0, 24, 25), R(24, 0, 24, 25), R(46, 0, 24, 25),
      R(0, 25, 24, 25), R(24, 25, 24, 25), R(46, 25, 24, 25),
    ]);
    const g: ImageGeometry = { kind: 'idefics3', canvas: { resized: { width: 70, height: 50 } }, split: { size: { width: 70, height: 50 }, tileSize: 30 }, grid: 3 };
    const frames = imageFrames({ width: 140, height: 100 }, g);
    expect(frames).toHaveLength(7);
    expect(frames[5]).toMatchObject({ label: 'tile 2,3', tileRow: 1, tileCol: 2, firstToken: 45 });
    close(frames[5]!.region, R(92, 50, 48, 50));
    expect(imageTokenCount(g)).toBe(63);
  });

  it('has only the global frame without splitting, or when the canvas fits one tile', () => {
    const noSplit: ImageGeometry = { kind: 'idefics3', canvas: { resized: { width: 50, height: 30 } }, split: null, grid: 4 };
    const fits: ImageGeometry = { ...noSplit, split: { size: { width: 32, height: 32 }, tileSize: 32 } };
    for (const g of [noSplit, fits]) {
      const t = imageTokenRegions({ width: 50, height: 30 }, g);
      expect(t).toHaveLength(16);
      expect(new Set(t.map((x) => x.frame))).toEqual(new Set(['global']));
      close(t[5]!.region, R(12.5, 7.5, 12.5, 7.5));
    }
  });
});

// --- property tests over random geometries ---

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomCase(rand: () => number): { original: Size; g: ImageGeometry } {
  const int = (a: number, b: number) => a + Math.floor(rand() * (b - a + 1));
  const original = { width: int(1, 3000), height: int(1, 3000) };
  const resized = { width: int(8, 300), height: int(8, 300) };
  const canvas: ImageGeometry['canvas'] = { resized };
  if (rand() < 0.4) {
    const cw = int(4, 400);
    const ch = int(4, 400);
    canvas.crop = R(Math.floor((resized.width - cw) / 2), Math.floor((resized.height - ch) / 2), cw, ch);
  }
  if (rand() < 0.3) canvas.padTo = { width: int(4, 500), height: int(4, 500) };
  if (rand() < 0.5) {
    return { original, g: { kind: 'vit', canvas, grid: { rows: int(1, 9), cols: int(1, 9) }, prefixTokens: int(0, 2) } };
  }
  const split = rand() < 0.8 ? { size: { width: int(8, 200), height: int(8, 200) }, tileSize: int(8, 80) } : null;
  return { original, g: { kind: 'idefics3', canvas, split, grid: int(1, 6) } };
}

const area = (r: Rect) => r.width * r.height;
const interArea = (a: Rect, b: Rect) =>
  Math.max(0, Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left)) *
  Math.max(0, Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top));

describe('properties', () => {
  const rand = rng(12345);
  const cases = Array.from({ length: 150 }, () => randomCase(rand));

  it('regions lie inside the image and counts agree', () => {
    for (const { original, g } of cases) {
      const t = imageTokenRegions(original, g);
      expect(t).toHaveLength(imageTokenCount(g));
      for (const { region: r } of t) {
        expect(r.width).toBeGreaterThanOrEqual(0);
        expect(r.height).toBeGreaterThanOrEqual(0);
        expect(r.left).toBeGreaterThanOrEqual(0);
        expect(r.top).toBeGreaterThanOrEqual(0);
        expect(r.left + r.width).toBeLessThanOrEqual(original.width + 1e-9);
        expect(r.top + r.height).toBeLessThanOrEqual(original.height + 1e-9);
      }
    }
  });

  it("one frame's tokens partition the frame's area", () => {
    for (const { original, g } of cases) {
      const t = imageTokenRegions(original, g);
      for (const f of imageFrames(original, g)) {
        const mine = t.slice(f.firstToken, f.firstToken + f.rows * f.cols);
        expect(mine.every((x) => x.frameIndex === f.index)).toBe(true);
        const sum = mine.reduce((s, x) => s + area(x.region), 0);
        expect(sum).toBeCloseTo(area(f.region), 6);
        for (let i = 0; i < mine.length; i++) {
          expect(interArea(mine[i]!.region, f.region)).toBeCloseTo(area(mine[i]!.region), 6);
          for (let j = i + 1; j < mine.length; j++) expect(interArea(mine[i]!.region, mine[j]!.region)).toBeLessThan(1e-6 * (1 + area(f.region)));
        }
      }
    }
  });

  it('tiles together cover exactly what the global frame covers', () => {
    for (const { original, g } of cases) {
      if (g.kind !== 'idefics3') continue;
      const frames = imageFrames(original, g);
      const global = frames[frames.length - 1]!;
      const tiles = frames.filter((f) => f.kind === 'tile');
      if (tiles.length === 0) continue;
      const visible = tiles.filter((f) => area(f.region) > 0).map((f) => f.region);
      const l = Math.min(...visible.map((r) => r.left));
      const tp = Math.min(...visible.map((r) => r.top));
      const rr = Math.max(...visible.map((r) => r.left + r.width));
      const b = Math.max(...visible.map((r) => r.top + r.height));
      close(R(l, tp, rr - l, b - tp), global.region);
    }
  });
});
