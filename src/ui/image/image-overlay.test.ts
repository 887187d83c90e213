// @vitest-environment happy-dom
// The overlay factory and the image chip, on explanations the Node engine computed for the tiny
// vision-language fixtures (a 50 x 30 picture; Idefics3 splits it into 2 x 2 tiles + a global frame
// of 2 x 2 tokens each, and a drawn rectangle; the ViT captioner has a CLS token and 4 x 4 patches).
import { describe, expect, it, vi } from 'vitest';
import type { Explanation } from '../../runtime/schema';
import { colourScale, maxAbs, parseColour, ranks, unitScores } from '../results/score-view';
import { heatmapRuns } from '../results/text-pieces';
import idefics from './__fixtures__/tiny-idefics3.json';
import vit from './__fixtures__/tiny-vit-gpt2.json';
import { heatmapRunsWithImage, imageRun } from './image-chip';
import { cellAriaLabel, displaySize, drawOverlay, frameOptions, fromDisplay, gridCells, imageCells, toDisplay } from './image-overlay';
import { overlayPngLayout } from './overlay-png';

const X = idefics as unknown as Explanation;
const V = vit as unknown as Explanation;
const cellsOf = (x: Explanation, t: number | null = null) => {
  const s = unitScores(x, t);
  return imageCells(x, s, ranks(s));
};

describe('region -> display pixels', () => {
  it('stretches original pixels onto the displayed size and back', () => {
    const image = { width: 50, height: 30 };
    const display = { width: 400, height: 240 };
    expect(toDisplay({ left: 25, top: 15, width: 12.5, height: 7.5 }, image, display)).toEqual({ x: 200, y: 120, width: 100, height: 60 });
    // a picture shown squashed (another aspect) still maps each axis on its own
    expect(toDisplay({ left: 10, top: 10, width: 5, height: 5 }, { width: 100, height: 50 }, { width: 50, height: 100 })).toEqual({ x: 5, y: 20, width: 2.5, height: 10 });
    const r = { left: 3.25, top: 7, width: 11, height: 2.5 };
    const back = fromDisplay(toDisplay(r, image, display), image, display);
    for (const k of ['left', 'top', 'width', 'height'] as const) expect(back[k]).toBeCloseTo(r[k], 10);
  });

  it('fits the picture into the room it has, keeping its aspect (small pictures scaled up)', () => {
    expect(displaySize({ width: 64, height: 64 }, 512)).toEqual({ width: 512, height: 512 });
    expect(displaySize({ width: 1000, height: 500 }, 400)).toEqual({ width: 400, height: 200 });
    expect(displaySize({ width: 300, height: 900 }, 400, 450)).toEqual({ width: 150, height: 450 });
  });
});

describe('imageCells', () => {
  it('one cell per image unit with its region, kind, score and ranks; text units are left out', () => {
    const cells = cellsOf(X);
    const imageUnits = X.units.filter((u) => u.image !== undefined);
    expect(cells.length).toBe(imageUnits.length);
    expect(cells.map((c) => X.units[c.unit]!.label)).toEqual(imageUnits.map((u) => u.label));
    expect(cells.filter((c) => c.kind === 'tile').length).toBe(16);
    expect(cells.filter((c) => c.kind === 'global').length).toBe(4);
    const drawn = cells.filter((c) => c.kind === 'drawn');
    expect(drawn.map((c) => c.label)).toEqual(['drawn region 1']);
    // the drawn box is drawn once, although its tokens come from two frames
    expect(drawn[0]!.rects).toEqual([X.units[drawn[0]!.unit]!.region]);
    const all = ranks(unitScores(X, null));
    for (const c of cells) {
      expect(c.score).toBe(X.units[c.unit]!.score);
      expect(c.rank).toBe(all[c.unit]);
    }
    // image ranks: 1..n over the image cells, by score
    const byScore = [...cells].sort((a, b) => b.score - a.score);
    expect(byScore.map((c) => c.imageRank)).toEqual(byScore.map((_, i) => i + 1));
  });

  it('per target token: the cells carry R[u, t] instead of the total', () => {
    const t1 = cellsOf(X, 1);
    for (const c of t1) expect(c.score).toBe(X.units[c.unit]!.perTarget[1]);
    expect(t1.some((c, i) => c.score !== cellsOf(X)[i]!.score)).toBe(true);
  });

  it('frames: tiles or the global frame of a split picture; a ViT grid has no choice and its CLS token is whole-picture', () => {
    const cells = cellsOf(X);
    expect(frameOptions(cells).map((o) => [o.value, o.units])).toEqual([
      ['tiles', 16],
      ['global', 4],
    ]);
    expect(gridCells(cells, 'tiles').every((c) => c.kind === 'tile')).toBe(true);
    expect(gridCells(cells, 'global').map((c) => c.label)).toEqual(['global (1,1)', 'global (1,2)', 'global (2,1)', 'global (2,2)']);
    // the 16 tile cells cover the picture exactly once
    const area = gridCells(cells, 'tiles').reduce((s, c) => s + c.bounds.width * c.bounds.height, 0);
    expect(area).toBeCloseTo(50 * 30);

    const v = cellsOf(V);
    expect(frameOptions(v)).toEqual([]);
    expect(v.filter((c) => c.kind === 'whole').map((c) => c.label)).toEqual(['cls']);
    expect(gridCells(v, 'global').length).toBe(16);
    expect(gridCells(v, 'tiles').every((c) => c.kind === 'image')).toBe(true);
  });
});

describe('drawOverlay', () => {
  const setup = (opts: Partial<Parameters<typeof drawOverlay>[1]> = {}) => {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    document.body.append(svg);
    const scores = unitScores(X, null);
    const cells = cellsOf(X);
    const scale = colourScale(maxAbs(scores));
    const o = {
      image: { width: 50, height: 30 },
      display: { width: 500, height: 300 },
      scale,
      opacity: 0.5,
      cells: gridCells(cells, 'tiles'),
      drawn: cells.filter((c) => c.kind === 'drawn'),
      unitCount: scores.length,
      ...opts,
    };
    drawOverlay(svg, o);
    return { svg, o, scale, scores };
  };

  it('fills each cell at its display rectangle with the shared signed colour scale', () => {
    const { svg, scale } = setup();
    const groups = [...svg.querySelectorAll('g.atman-grid-cell')];
    expect(groups.length).toBe(16);
    for (const g of groups) {
      const u = Number(g.getAttribute('data-unit'));
      const unit = X.units[u]!;
      const rect = g.querySelector('rect')!;
      const r = unit.region!;
      expect(Number(rect.getAttribute('x'))).toBeCloseTo(r.left * 10);
      expect(Number(rect.getAttribute('y'))).toBeCloseTo(r.top * 10);
      expect(Number(rect.getAttribute('width'))).toBeCloseTo(r.width * 10);
      expect(Number(rect.getAttribute('height'))).toBeCloseTo(r.height * 10);
      expect(rect.getAttribute('fill')).toBe(scale(unit.score));
      expect(rect.getAttribute('fill-opacity')).toBe('0.5');
      // negative scores blue, positive orange (the text heatmap's convention)
      const [red, , blue] = parseColour(rect.getAttribute('fill')!);
      if (unit.score < -1e-3) expect(blue).toBeGreaterThan(red);
      if (unit.score > 1e-3) expect(red).toBeGreaterThan(blue);
      expect(g.getAttribute('tabindex')).toBe('0');
      expect(g.getAttribute('aria-label')).toContain(`rank ${g.getAttribute('data-rank')} of ${X.units.length}`);
    }
    expect(svg.querySelectorAll('[data-testid="image-region-unit"]').length).toBe(1);
    expect(svg.querySelector('[data-testid="image-region-unit"] text')!.textContent).toMatch(/^drawn region 1: [+-]/);
    svg.remove();
  });

  it('hover, focus, click and keys call back with the unit; updates in place (opacity, frame, selection)', () => {
    const onHover = vi.fn();
    const onSelect = vi.fn();
    const { svg, o } = setup({ onHover, onSelect });
    const g = svg.querySelector('g.atman-grid-cell') as SVGGElement;
    const u = Number(g.getAttribute('data-unit'));
    g.dispatchEvent(new MouseEvent('mouseenter'));
    expect(onHover).toHaveBeenLastCalledWith(u, g);
    g.dispatchEvent(new MouseEvent('mouseleave'));
    expect(onHover).toHaveBeenLastCalledWith(null, null);
    g.dispatchEvent(new FocusEvent('focus'));
    expect(onHover).toHaveBeenLastCalledWith(u, g);
    g.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    g.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(onSelect.mock.calls).toEqual([[u], [u]]);

    const cells = cellsOf(X);
    drawOverlay(svg, { ...o, opacity: 0.9, cells: gridCells(cells, 'global'), selectedUnit: 18, brush: { left: 1, top: 2, width: 3, height: 4 } });
    const groups = [...svg.querySelectorAll('g.atman-grid-cell')];
    expect(groups.map((x) => X.units[Number(x.getAttribute('data-unit'))]!.label)).toEqual(['global (1,1)', 'global (1,2)', 'global (2,1)', 'global (2,2)']);
    expect(svg.querySelector('g.atman-grid-cell rect')!.getAttribute('fill-opacity')).toBe('0.9');
    const sel = svg.querySelector('g.atman-selected')!;
    expect(sel.getAttribute('data-unit')).toBe('18');
    expect(sel.querySelector('rect')!.getAttribute('stroke-width')).toBe('3');
    const brush = svg.querySelector('[data-testid="image-brush"]')!;
    expect([brush.getAttribute('x'), brush.getAttribute('y'), brush.getAttribute('width'), brush.getAttribute('height')]).toEqual(['10', '20', '30', '40']);
    svg.remove();
  });

  it('says score and rank in the label a screen reader reads', () => {
    const c = cellsOf(X)[0]!;
    expect(cellAriaLabel(c, 27)).toBe(`image unit '${c.label}', score ${c.score > 0 ? '+' : '-'}${Math.abs(c.score).toPrecision(3)}, rank ${c.rank} of 27`);
  });
});

describe('image chip in the text heatmap', () => {
  it('finds the processor run (special tokens spanning the marker) and draws it as one chip', () => {
    const r = imageRun(X)!;
    expect(X.prompt.slice(r.start, r.end)).toBe('<image>');
    expect(r.imageTokens).toBe(X.image!.tokens.length);
    expect(X.tokens.slice(r.from, r.to).every((t) => t.special && t.start === r.start)).toBe(true);
    const plain = heatmapRuns(X);
    const chipped = heatmapRunsWithImage(X);
    const chips = (runs: typeof plain.prompt) => runs.flatMap((run) => (run.kind === 'plain' ? [run.piece] : run.pieces)).filter((p) => p.kind === 'token' && p.chip);
    expect(chips(plain.prompt).length).toBeGreaterThan(20);
    expect(chips(chipped.prompt).map((p) => (p.kind === 'token' ? p.text : ''))).toEqual([`image · ${X.image!.tokens.length} tokens`]);
    // the marker's characters are not drawn again as text; the words after it are unchanged
    const text = chipped.prompt.flatMap((run) => (run.kind === 'plain' ? [run.piece] : run.pieces)).filter((p) => !(p.kind === 'token' && p.chip)).map((p) => p.text).join('');
    expect(text).toBe('What is in this?');
    expect(chipped.target).toEqual(plain.target);
    // the text units keep their runs
    expect(chipped.prompt.filter((r) => r.kind === 'unit').map((r) => (r.kind === 'unit' ? X.units[r.unit]!.label : ''))).toEqual(['What', 'is', 'in', 'this', '?']);
  });

  it('a marker in the middle of the prompt keeps the text around it', () => {
    const x = structuredClone(X);
    const shift = 3;
    x.prompt = 'Hi <image>What is in this?';
    x.tokens = x.tokens.map((t) => (t.role === 'prompt' ? { ...t, start: t.start + shift, end: t.end + shift } : t));
    const runs = heatmapRunsWithImage(x).prompt.flatMap((run) => (run.kind === 'plain' ? [run.piece] : run.pieces));
    expect(runs.map((p) => (p.kind === 'token' && p.chip ? '[img]' : p.text)).join('')).toBe('Hi [img]What is in this?');
  });

  it('captioners and text-only results have no chip', () => {
    expect(imageRun(V)).toBeNull();
    expect(heatmapRunsWithImage(V)).toEqual({ ...heatmapRuns(V), image: null });
  });
});

describe('PNG layout', () => {
  it('puts the picture at the chosen width, the legend and the caption under it', () => {
    const L = overlayPngLayout({ width: 50, height: 30 }, 500, 2);
    expect(L.picture).toEqual({ x: 16, y: L.titleY + 10, width: 500, height: 300 });
    expect(L.width).toBe(532);
    expect(L.legend.y).toBeGreaterThan(L.picture.y + L.picture.height);
    expect(L.captionY).toBeGreaterThan(L.ticksY);
    expect(L.height).toBeGreaterThan(L.captionY + 2 * 13);
  });
});
