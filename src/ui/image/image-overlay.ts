// The image half of a result drawn over the picture: each image unit's regions (original pixels)
// mapped onto the displayed picture and filled with the colour of its score, on the same signed
// scale as the text heatmap. The geometry and the cell list are pure; drawOverlay renders them into
// an <svg> with d3 (one focusable group per unit).
import { type Selection, select } from 'd3';
import type { Rect, Size } from '../../core/image-regions';
import type { Explanation } from '../../runtime/schema';
import { type FrameChoice, isDrawnRegionLabel } from '../../state/slices/image-slice';
import type { ColourScale } from '../results/score-view';
import { formatScore, unitLabel } from '../results/score-view';

/** A rectangle in display pixels (the <svg>'s own coordinates). */
export interface PixelRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Original-image pixels -> pixels of the picture as displayed (a plain stretch of the whole picture). */
export function toDisplay(r: Rect, image: Size, display: Size): PixelRect {
  const sx = display.width / image.width;
  const sy = display.height / image.height;
  return { x: r.left * sx, y: r.top * sy, width: r.width * sx, height: r.height * sy };
}

/** Display pixels -> original-image pixels (the inverse of toDisplay). */
export function fromDisplay(p: PixelRect, image: Size, display: Size): Rect {
  const sx = image.width / display.width;
  const sy = image.height / display.height;
  return { left: p.x * sx, top: p.y * sy, width: p.width * sx, height: p.height * sy };
}

/**
 * The displayed size of a picture: as wide as `maxWidth` allows (small pictures are scaled up to
 * it, so a 64-pixel image is not a postage stamp), no taller than `maxHeight`, aspect kept.
 */
export function displaySize(image: Size, maxWidth: number, maxHeight = Infinity): Size {
  const s = Math.min(maxWidth / image.width, maxHeight / image.height);
  return { width: image.width * s, height: image.height * s };
}

/** What kind of unit a cell is: a grid tile of a frame, a whole-image token (CLS), or a region the user drew. */
export type CellKind = 'tile' | 'global' | 'image' | 'whole' | 'drawn';

export interface OverlayCell {
  /** index into Explanation.units */
  unit: number;
  label: string;
  score: number;
  /** rank among all units (text and image), 1 = highest */
  rank: number;
  /** rank among the image units */
  imageRank: number;
  kind: CellKind;
  /** rectangles to fill, original pixels */
  rects: Rect[];
  /** bounding box, original pixels */
  bounds: Rect;
}

/** One cell per image unit, in unit order. `scores` and `ranks` are per unit (all units). */
export function imageCells(x: Pick<Explanation, 'units' | 'image'>, scores: readonly number[], ranks: readonly number[]): OverlayCell[] {
  const im = x.image;
  if (!im) return [];
  const frameKind = new Map(im.frames.map((f) => [f.label, f.kind]));
  const cells: Omit<OverlayCell, 'imageRank'>[] = [];
  x.units.forEach((u, i) => {
    if (u.image === undefined || !u.region) return;
    const kinds = (u.imageTokens ?? []).map((t) => frameKind.get(im.tokens[t]?.frame ?? '') ?? 'image');
    let kind: CellKind;
    if (isDrawnRegionLabel(u.label)) kind = 'drawn';
    else if (kinds.length > 0 && kinds.every((k) => k === 'cls' || k === 'distillation')) kind = 'whole';
    else kind = (kinds.find((k) => k === 'tile' || k === 'global' || k === 'image') ?? 'image') as CellKind;
    // A drawn region spans frames (tiles and the global frame cover the same place): its box is drawn once.
    const rects = kind === 'drawn' || !u.regions?.length ? [u.region] : u.regions;
    cells.push({ unit: i, label: u.label, score: scores[i]!, rank: ranks[i]!, kind, rects, bounds: u.region });
  });
  const order = cells.map((_, k) => k).sort((a, b) => (Number.isFinite(cells[b]!.score) ? cells[b]!.score : -Infinity) - (Number.isFinite(cells[a]!.score) ? cells[a]!.score : -Infinity) || a - b);
  const imageRank = new Array<number>(cells.length);
  order.forEach((k, r) => (imageRank[k] = r > 0 && cells[order[r - 1]!]!.score === cells[k]!.score ? imageRank[order[r - 1]!]! : r + 1));
  return cells.map((c, k) => ({ ...c, imageRank: imageRank[k]! }));
}

export interface FrameOption {
  value: FrameChoice;
  label: string;
  units: number;
}

/** The frame choices worth offering: only when a split image has both tiles and a global frame. */
export function frameOptions(cells: readonly OverlayCell[]): FrameOption[] {
  const tiles = cells.filter((c) => c.kind === 'tile').length;
  const global = cells.filter((c) => c.kind === 'global').length;
  if (tiles === 0 || global === 0) return [];
  return [
    { value: 'tiles', label: 'tiles', units: tiles },
    { value: 'global', label: 'global (whole image, downscaled)', units: global },
  ];
}

/** The grid cells drawn for a frame choice (tiles and the global frame overlap, so one of them). */
export function gridCells(cells: readonly OverlayCell[], choice: FrameChoice): OverlayCell[] {
  const grid = cells.filter((c) => c.kind === 'tile' || c.kind === 'global' || c.kind === 'image');
  if (frameOptions(cells).length === 0) return grid;
  return grid.filter((c) => c.kind === (choice === 'tiles' ? 'tile' : 'global'));
}

export const cellAriaLabel = (c: OverlayCell, count: number): string =>
  `image unit '${unitLabel(c.label)}', score ${formatScore(c.score, 3)}, rank ${c.rank} of ${count}`;

export interface OverlayHandlers {
  /** pointer or focus on a cell (null: left it); `el` is the cell's group */
  onHover?: (unit: number | null, el: SVGGElement | null) => void;
  onSelect?: (unit: number) => void;
}

export interface OverlayOptions extends OverlayHandlers {
  /** the picture's size in original pixels (what the regions use) */
  image: Size;
  /** the <svg>'s size in its own pixels */
  display: Size;
  scale: ColourScale;
  /** fill opacity of the score colours, 0..1 */
  opacity: number;
  /** grid cells (one frame) */
  cells: readonly OverlayCell[];
  /** user-drawn region units, drawn on top as outlined boxes */
  drawn?: readonly OverlayCell[];
  /** all units, for "rank r of n" */
  unitCount: number;
  selectedUnit?: number | null;
  activeUnit?: number | null;
  /** the rectangle being drawn (original pixels), dashed */
  brush?: Rect | null;
  /** regions sent with the next explanation but not yet explained (original pixels) */
  pendingRegions?: readonly Rect[];
}

type G = Selection<SVGGElement, OverlayCell, SVGGElement, unknown>;

/** Renders the overlay into `svg` (idempotent: call again with new options to update). */
export function drawOverlay(svgEl: SVGSVGElement, o: OverlayOptions): void {
  const svg = select(svgEl)
    .attr('width', o.display.width)
    .attr('height', o.display.height)
    .attr('viewBox', `0 0 ${o.display.width} ${o.display.height}`);
  const layer = (cls: string) =>
    svg
      .selectAll<SVGGElement, null>(`g.${cls}`)
      .data([null])
      .join('g')
      .attr('class', cls);
  const gridLayer = layer('atman-image-grid');
  const drawnLayer = layer('atman-image-drawn');
  const brushLayer = layer('atman-image-brush');

  const cellGroups = (parent: Selection<SVGGElement, null, SVGSVGElement, unknown>, cells: readonly OverlayCell[], cls: string): G =>
    parent
      .selectAll<SVGGElement, OverlayCell>('g.atman-image-cell')
      .data(cells, (c) => String(c.unit))
      .join((enter) => {
        const g = enter.append('g').attr('class', `atman-image-cell ${cls}`);
        return g;
      });

  const paint = (g: G, drawn: boolean) => {
    g.attr('data-testid', drawn ? 'image-region-unit' : 'image-cell')
      .attr('data-unit', (c) => c.unit)
      .attr('data-score', (c) => c.score)
      .attr('data-rank', (c) => c.rank)
      .attr('data-kind', (c) => c.kind)
      .attr('tabindex', 0)
      .attr('role', 'button')
      .attr('aria-label', (c) => cellAriaLabel(c, o.unitCount))
      .attr('aria-pressed', (c) => String(c.unit === o.selectedUnit))
      .classed('atman-selected', (c) => c.unit === o.selectedUnit)
      .classed('atman-active', (c) => c.unit === o.activeUnit);
    g.selectAll<SVGRectElement, Rect>('rect')
      .data((c) => c.rects.map((r) => ({ r, c })))
      .join('rect')
      .each(function ({ r, c }) {
        const p = toDisplay(r, o.image, o.display);
        select(this)
          .attr('x', p.x)
          .attr('y', p.y)
          .attr('width', Math.max(0, p.width))
          .attr('height', Math.max(0, p.height))
          .attr('fill', o.scale(c.score))
          // A drawn region lies over the grid cells it covers: lighter, so they show through.
          .attr('fill-opacity', drawn && c.unit !== o.selectedUnit && c.unit !== o.activeUnit ? o.opacity * 0.5 : o.opacity)
          .attr('stroke', c.unit === o.selectedUnit || c.unit === o.activeUnit ? '#111111' : drawn ? '#111111' : 'rgba(255,255,255,0.55)')
          .attr('stroke-width', c.unit === o.selectedUnit ? 3 : c.unit === o.activeUnit ? 2 : drawn ? 2 : 0.75)
          .attr('stroke-dasharray', drawn && c.unit !== o.selectedUnit ? '6 3' : null)
          .attr('vector-effect', 'non-scaling-stroke');
      });
    g.on('mouseenter', function (_e, c) {
      o.onHover?.(c.unit, this);
    })
      .on('mouseleave', () => o.onHover?.(null, null))
      .on('focus', function (_e, c) {
        o.onHover?.(c.unit, this);
      })
      .on('blur', () => o.onHover?.(null, null))
      .on('click', (_e, c) => o.onSelect?.(c.unit))
      .on('keydown', (e: KeyboardEvent, c) => {
        if (e.key === 'Enter' || e.key === ' ' || e.key === 'Spacebar') {
          e.preventDefault();
          o.onSelect?.(c.unit);
        }
      });
  };
  paint(cellGroups(gridLayer, o.cells, 'atman-grid-cell'), false);
  const drawn = cellGroups(drawnLayer, o.drawn ?? [], 'atman-drawn-cell');
  paint(drawn, true);
  drawn
    .selectAll<SVGTextElement, OverlayCell>('text')
    .data((c) => [c])
    .join('text')
    .attr('x', (c) => toDisplay(c.bounds, o.image, o.display).x + 4)
    .attr('y', (c) => toDisplay(c.bounds, o.image, o.display).y + 15)
    .attr('font-size', 13)
    .attr('fill', '#111111')
    .attr('paint-order', 'stroke')
    .attr('stroke', '#ffffff')
    .attr('stroke-width', 3)
    .text((c) => `${unitLabel(c.label)}: ${formatScore(c.score, 3)}`);

  const marks = [...(o.pendingRegions ?? []).map((r) => ({ r, kind: 'pending' })), ...(o.brush ? [{ r: o.brush, kind: 'brush' }] : [])];
  brushLayer
    .selectAll<SVGRectElement, { r: Rect; kind: string }>('rect')
    .data(marks)
    .join('rect')
    .attr('data-testid', (m) => (m.kind === 'brush' ? 'image-brush' : 'image-pending-region'))
    .attr('x', (m) => toDisplay(m.r, o.image, o.display).x)
    .attr('y', (m) => toDisplay(m.r, o.image, o.display).y)
    .attr('width', (m) => toDisplay(m.r, o.image, o.display).width)
    .attr('height', (m) => toDisplay(m.r, o.image, o.display).height)
    .attr('fill', 'none')
    .attr('stroke', (m) => (m.kind === 'brush' ? '#e66101' : '#555555'))
    .attr('stroke-width', 2)
    .attr('stroke-dasharray', '5 4')
    .attr('pointer-events', 'none');
}
