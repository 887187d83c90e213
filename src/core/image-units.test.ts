import { describe, expect, it } from 'vitest';
import { unitFactors } from './conceptual';
import { isAtmanError } from './errors';
import { imageTokenRegions, type ImageGeometry, type Rect, type Size } from './image-regions';
import {
  buildImageUnits,
  buildRegionUnit,
  groupBounds,
  imageGranularityFor,
  imageTokenPositions,
  shapeCoverage,
  tilesPerSide,
  type ImageShape,
  type ImageTokens,
} from './image-units';

const R = (left: number, top: number, width: number, height: number): Rect => ({ left, top, width, height });

function vitTokens(size: Size, grid: number, offset: number, prefixTokens = 1): ImageTokens {
  const g: ImageGeometry = { kind: 'vit', canvas: { resized: { width: 224, height: 224 } }, grid: { rows: grid, cols: grid }, prefixTokens };
  const regions = imageTokenRegions(size, g);
  return { positions: regions.map((_, i) => offset + i), regions, imageSize: size };
}

// An Idefics3 prompt: text, then per frame a marker token and the frame's tokens, like the processor's expansion.
function idefics3Tokens(): { tokens: ImageTokens; ids: number[]; IMG: number } {
  const IMG = 99;
  const size = { width: 140, height: 100 };
  const g: ImageGeometry = { kind: 'idefics3', canvas: { resized: { width: 70, height: 50 } }, split: { size: { width: 70, height: 50 }, tileSize: 30 }, grid: 4 };
  const regions = imageTokenRegions(size, g);
  const ids = [1, 2, 3];
  let prevFrame = -1;
  for (const r of regions) {
    if (r.frameIndex !== prevFrame) ids.push(7, 8); // <fake_token_around_image><row_r_col_c>
    prevFrame = r.frameIndex;
    ids.push(IMG);
  }
  ids.push(7, 4, 5);
  return { tokens: { positions: imageTokenPositions(ids, IMG), regions, imageSize: size }, ids, IMG };
}

describe('granularity -> tiles', () => {
  it('follows the production grids for 12 and scales for other grids', () => {
    const sides = (g: number) => (['token', 'word', 'sentence', 'paragraph'] as const).map((k) => tilesPerSide(g, k));
    expect(sides(12)).toEqual([12, 6, 3, 1]);
    expect(sides(8)).toEqual([8, 4, 2, 1]);
    expect(sides(14)).toEqual([14, 7, 4, 1]);
    expect(sides(2)).toEqual([2, 1, 1, 1]);
    expect(sides(1)).toEqual([1, 1, 1, 1]);
    expect(tilesPerSide(12, { tilesPerSide: 5 })).toBe(5);
    expect(tilesPerSide(3, { tilesPerSide: 5 })).toBe(3);
    expect(() => tilesPerSide(12, { tilesPerSide: 0 })).toThrow(/at least 1/);
  });

  it('groups as evenly as possible', () => {
    expect(groupBounds(12, 3)).toEqual([0, 4, 8, 12]);
    expect(groupBounds(14, 4)).toEqual([0, 3, 7, 10, 14]);
    expect(groupBounds(5, 3)).toEqual([0, 1, 3, 5]);
  });

  it('maps text granularities', () => {
    expect(imageGranularityFor({ kind: 'word' })).toBe('word');
    expect(imageGranularityFor({ kind: 'delimiter', delimiter: ';' })).toBe('sentence');
    expect(imageGranularityFor({ kind: 'chunks', chunks: [[0, 1]] })).toBeNull();
  });
});

describe('buildImageUnits', () => {
  it('12x12 ViT: 1 CLS unit plus 144 / 36 / 9 / 1 tiles, each patch in exactly one', () => {
    const tokens = vitTokens({ width: 120, height: 60 }, 12, 5);
    for (const [gran, n, perTile] of [['token', 144, 1], ['word', 36, 4], ['sentence', 9, 16], ['paragraph', 1, 144]] as const) {
      const units = buildImageUnits(tokens, gran);
      expect(units).toHaveLength(n + 1);
      expect(units[0]).toMatchObject({ label: 'cls', positions: [5], source: 'prompt' });
      expect(units.slice(1).every((u) => u.positions.length === perTile)).toBe(true);
      const all = units.flatMap((u) => u.positions).sort((a, b) => a - b);
      expect(all).toEqual(tokens.positions);
      expect(units.every((u) => u.coverage === undefined && u.span === undefined)).toBe(true);
    }
    const sentence = buildImageUnits(tokens, 'sentence');
    // tile (row group 1, col group 2): patch rows 4..7, cols 8..11 of a 120x60 image in 10x5 px cells
    const u = sentence[1 + 1 * 3 + 2]!;
    expect(u.label).toBe('image rows 5–8, cols 9–12');
    expect(u.positions[0]).toBe(5 + 1 + 4 * 12 + 8);
    expect(u.image.regions).toHaveLength(1);
    const r = u.image.regions[0]!;
    expect([r.left, r.top, r.width, r.height].map((x) => +x.toFixed(9))).toEqual([80, 20, 40, 20]);
    expect(u.image.bounds).toEqual(r);
    expect(buildImageUnits(tokens, 'token')[14]!.label).toBe('image (2,2)');
    expect(buildImageUnits(tokens, 'paragraph')[1]!.label).toBe('image');
  });

  it('groups a grid not divisible by the tile count as evenly as possible', () => {
    const units = buildImageUnits(vitTokens({ width: 50, height: 50 }, 5, 0, 0), 'word');
    expect(units.map((u) => u.positions.length)).toEqual([1, 2, 2, 2, 4, 4, 2, 4, 4]);
  });

  it('Idefics3: tiles never cross frames, units follow sequence order, positions skip the markers', () => {
    const { tokens, ids, IMG } = idefics3Tokens();
    expect(tokens.positions).toHaveLength(7 * 16);
    const units = buildImageUnits(tokens, 'word');
    expect(units).toHaveLength(7 * 4);
    for (const u of units) {
      expect(u.image.frames).toHaveLength(1);
      expect(u.positions.every((p) => ids[p] === IMG)).toBe(true);
    }
    const firsts = units.map((u) => u.positions[0]!);
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    expect(units[0]!.label).toBe('tile 1,1 rows 1–2, cols 1–2');
    const para = buildImageUnits({ ...tokens, labelPrefix: 'image 2 · ', imageIndex: 1 }, 'paragraph');
    expect(para.map((u) => u.label)).toEqual([
      'image 2 · tile 1,1', 'image 2 · tile 1,2', 'image 2 · tile 1,3',
      'image 2 · tile 2,1', 'image 2 · tile 2,2', 'image 2 · tile 2,3', 'image 2 · global',
    ]);
    expect(para[6]!.image).toMatchObject({ imageIndex: 1, regions: [R(0, 0, 140, 100)] });
  });

  it('rejects positions that do not match the regions', () => {
    const t = vitTokens({ width: 10, height: 10 }, 2, 0);
    expect(() => buildImageUnits({ ...t, positions: t.positions.slice(1) }, 'token')).toThrow(RangeError);
    expect(() => buildImageUnits({ ...t, positions: t.positions.map(() => 3) }, 'token')).toThrow(/twice/);
  });
});

describe('buildRegionUnit', () => {
  // 4x4 patches over 40x40: patch (r, c) covers [10c, 10c+10) x [10r, 10r+10); positions 11.. (CLS at 10).
  const tokens = vitTokens({ width: 40, height: 40 }, 4, 10);
  const pos = (r: number, c: number) => 11 + r * 4 + c;

  it('takes whole tokens under a pixel-aligned rectangle and leaves out CLS and tokens it only touches', () => {
    const u = buildRegionUnit(tokens, { kind: 'rect', rect: R(10, 10, 20, 20) }, { tokenOverlap: 'partial' });
    expect(u.positions).toEqual([pos(1, 1), pos(1, 2), pos(2, 1), pos(2, 2)]);
    expect(u.coverage).toBeUndefined();
    expect(u.image.regions.map((r) => [r.left, r.top, r.width, r.height].map((x) => +x.toFixed(9)))).toEqual([[10, 10, 20, 20]]);
    expect(u.label).toMatch(/^region /);
    expect(u.image.shape).toEqual({ kind: 'rect', rect: R(10, 10, 20, 20) });
    const withCls = buildRegionUnit(tokens, { kind: 'rect', rect: R(10, 10, 20, 20) }, { tokenOverlap: 'partial', includeWholeImageTokens: true, label: 'the cat' });
    expect(withCls.positions[0]).toBe(10);
    expect(withCls.coverage![0]).toBeCloseTo(400 / 1600, 12);
    expect(withCls.label).toBe('the cat');
  });

  it("scales the factor by the covered fraction with 'partial' and takes full tokens with 'complete'", () => {
    const rect: ImageShape = { kind: 'rect', rect: R(5, 0, 10, 5) };
    const partial = buildRegionUnit(tokens, rect, { tokenOverlap: 'partial' });
    expect(partial.positions).toEqual([pos(0, 0), pos(0, 1)]);
    expect(partial.coverage).toEqual([0.25, 0.25]);
    const complete = buildRegionUnit(tokens, rect, { tokenOverlap: 'complete' });
    expect(complete.positions).toEqual(partial.positions);
    expect(complete.coverage).toBeUndefined();
    // the same factor rule as text: phi = 1 - coverage * (1 - factor)
    const phi = unitFactors(partial, 40, 0.1, null, () => 0);
    expect(phi[pos(0, 0)]).toBeCloseTo(1 - 0.25 * 0.9, 6);
    expect(phi[pos(1, 0)]).toBe(1);
  });

  it('measures polygons and masks exactly', () => {
    // the triangle under the diagonal of patch (0,0) covers half of it
    const tri = buildRegionUnit(tokens, { kind: 'polygon', points: [[0, 0], [10, 10], [0, 10]] }, { tokenOverlap: 'partial' });
    expect(tri.positions).toEqual([pos(0, 0)]);
    expect(tri.coverage![0]).toBeCloseTo(0.5, 12);
    // a concave L covering patches (0,0), (1,0), (1,1), drawn clockwise
    const ell = buildRegionUnit(tokens, { kind: 'polygon', points: [[0, 0], [10, 0], [10, 10], [20, 10], [20, 20], [0, 20]] }, { tokenOverlap: 'partial' });
    expect(ell.positions).toEqual([pos(0, 0), pos(1, 0), pos(1, 1)]);
    expect(ell.coverage).toBeUndefined();
    // an 8x8 mask over the 40x40 image: one cell = a quarter of a patch
    const data = new Uint8Array(64);
    data[3 * 8 + 5] = 255;
    const m = buildRegionUnit(tokens, { kind: 'mask', width: 8, height: 8, data }, { tokenOverlap: 'partial' });
    expect(m.positions).toEqual([pos(1, 2)]);
    expect(m.coverage![0]).toBeCloseTo(0.25, 12);
  });

  it('polygon and mask coverage agree with rectangle coverage (random rectangles)', () => {
    let s = 7;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const image = { width: 64, height: 48 };
    for (let i = 0; i < 200; i++) {
      const x = Math.floor(rand() * 60);
      const y = Math.floor(rand() * 44);
      const w = 1 + Math.floor(rand() * (64 - x - 1));
      const h = 1 + Math.floor(rand() * (48 - y - 1));
      const data = new Uint8Array(64 * 48);
      for (let yy = y; yy < y + h; yy++) data.fill(1, yy * 64 + x, yy * 64 + x + w);
      const probe = R(rand() * 60, rand() * 44, rand() * 20, rand() * 20);
      const rect = shapeCoverage({ kind: 'rect', rect: R(x, y, w, h) }, image)(probe);
      const poly = shapeCoverage({ kind: 'polygon', points: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]] }, image)(probe);
      const mask = shapeCoverage({ kind: 'mask', width: 64, height: 48, data }, image)(probe);
      expect(poly).toBeCloseTo(rect, 9);
      expect(mask).toBeCloseTo(rect, 9);
    }
  });

  it('takes tokens from every Idefics3 frame that sees the region', () => {
    const { tokens: t } = idefics3Tokens();
    // the original's top-left 35x25 pixels: tile 1,1 sees it at 4x4 cells of 12x12.5 px, the global frame at 35x25 px cells
    const u = buildRegionUnit(t, { kind: 'rect', rect: R(0, 0, 35, 25) }, { tokenOverlap: 'partial' });
    expect(u.image.frames).toEqual(['tile 1,1', 'global']);
    const globalIdx = u.image.tokens.filter((k) => t.regions[k]!.frame === 'global');
    expect(globalIdx).toEqual([6 * 16]);
    expect(u.coverage![u.image.tokens.indexOf(6 * 16)]).toBeCloseTo(1, 12);
    expect(u.image.regions).toHaveLength(2);
  });

  it('refuses shapes that select nothing, with a BAD_SETTING error', () => {
    const bad: ImageShape[] = [
      { kind: 'rect', rect: R(100, 100, 5, 5) },
      { kind: 'rect', rect: R(40, 0, 10, 10) },
      { kind: 'rect', rect: R(0, 0, 0, 10) },
      { kind: 'polygon', points: [[0, 0], [5, 5], [10, 10]] },
      { kind: 'mask', width: 2, height: 2, data: [0, 0, 0, 0] },
      { kind: 'mask', width: 2, height: 2, data: [1] },
    ];
    for (const shape of bad) {
      let err: unknown;
      try {
        buildRegionUnit(tokens, shape, { tokenOverlap: 'partial' });
      } catch (e) {
        err = e;
      }
      expect(isAtmanError(err, 'BAD_SETTING'), JSON.stringify(shape)).toBe(true);
    }
  });
});
