// The picture with its score overlay and the colour legend as one PNG, drawn on a canvas: the
// same cells, colours and opacity as on screen. The layout is pure (and tested); the drawing
// needs a browser canvas.
import type { Size } from '../../core/image-regions';
import { SIGN_IN_WORDS } from '../results/Legend';
import { EXPORT_FONT } from '../results/export-view';
import { type ColourScale, colourScale, formatScore, unitLabel } from '../results/score-view';
import { type OverlayCell, type PixelRect, displaySize, toDisplay } from './image-overlay';

export interface OverlayPngLayout {
  width: number;
  height: number;
  pad: number;
  titleY: number;
  picture: PixelRect;
  legend: PixelRect;
  /** baseline of the legend's tick labels */
  ticksY: number;
  /** first baseline of the caption */
  captionY: number;
}

const FONT = 15;
const SMALL = 13;

/** Where everything goes, in CSS pixels; `captionLines` lines of caption under the legend. */
export function overlayPngLayout(image: Size, pictureWidth = 512, captionLines = 2): OverlayPngLayout {
  const pad = 16;
  const pic = displaySize(image, pictureWidth, pictureWidth * 1.5);
  const width = Math.max(Math.ceil(pic.width) + 2 * pad, 420);
  const titleY = pad + FONT;
  const picture = { x: pad, y: titleY + 10, width: pic.width, height: pic.height };
  const legend = { x: pad, y: picture.y + picture.height + 14, width: Math.min(360, width - 2 * pad), height: 14 };
  const ticksY = legend.y + legend.height + SMALL + 2;
  const captionY = ticksY + SMALL + 8;
  const height = Math.ceil(captionY + captionLines * (SMALL + 5) + pad);
  return { width, height, pad, titleY, picture, legend, ticksY, captionY };
}

export interface OverlayPngInput {
  /** the picture as shown (null: a grey box, e.g. a shared result without its picture) */
  picture: CanvasImageSource | null;
  /** original pixels: what the cells' regions use */
  image: Size;
  cells: readonly OverlayCell[];
  drawn?: readonly OverlayCell[];
  scale: ColourScale;
  opacity: number;
  title: string;
  /** what the numbers are, e.g. "score over the whole target" */
  caption: string;
  selectedUnit?: number | null;
  pictureWidth?: number;
  pixelRatio?: number;
  /** draw the picture in grey, as the view may show it */
  grey?: boolean;
}

function wrap(ctx: CanvasRenderingContext2D, text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    const next = line ? `${line} ${w}` : w;
    if (line && ctx.measureText(next).width > width) {
      lines.push(line);
      line = w;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

export async function overlayPng(input: OverlayPngInput, doc: Document = document): Promise<Blob> {
  const ratio = input.pixelRatio ?? 2;
  const canvas = doc.createElement('canvas');
  const probe = canvas.getContext('2d');
  if (!probe) throw new Error('no 2D canvas to draw into');
  probe.font = `${SMALL}px ${EXPORT_FONT}`;
  const captionText = `${input.caption}. ${SIGN_IN_WORDS}.`;
  const L0 = overlayPngLayout(input.image, input.pictureWidth ?? 512);
  const lines = wrap(probe, captionText, L0.width - 2 * L0.pad);
  const L = overlayPngLayout(input.image, input.pictureWidth ?? 512, lines.length);
  canvas.width = Math.ceil(L.width * ratio);
  canvas.height = Math.ceil(L.height * ratio);
  const ctx = canvas.getContext('2d')!;
  ctx.scale(ratio, ratio);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, L.width, L.height);
  ctx.fillStyle = '#333333';
  ctx.font = `${FONT}px ${EXPORT_FONT}`;
  ctx.fillText(input.title, L.pad, L.titleY, L.width - 2 * L.pad);

  const P = L.picture;
  const display = { width: P.width, height: P.height };
  if (input.picture) {
    // Small pictures (the demo's 64 pixels) stay crisp instead of blurred.
    ctx.imageSmoothingEnabled = P.width / input.image.width < 2;
    if (input.grey) ctx.filter = 'grayscale(1)';
    ctx.drawImage(input.picture, P.x, P.y, P.width, P.height);
    ctx.filter = 'none';
    ctx.imageSmoothingEnabled = true;
  } else {
    ctx.fillStyle = '#d9d9d9';
    ctx.fillRect(P.x, P.y, P.width, P.height);
  }
  const rect = (r: PixelRect) => ({ x: P.x + r.x, y: P.y + r.y, w: r.width, h: r.height });
  for (const c of input.cells) {
    for (const reg of c.rects) {
      const q = rect(toDisplay(reg, input.image, display));
      ctx.globalAlpha = input.opacity;
      ctx.fillStyle = input.scale(c.score);
      ctx.fillRect(q.x, q.y, q.w, q.h);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = c.unit === input.selectedUnit ? '#111111' : 'rgba(255,255,255,0.55)';
      ctx.lineWidth = c.unit === input.selectedUnit ? 3 : 0.75;
      ctx.strokeRect(q.x, q.y, q.w, q.h);
    }
  }
  for (const c of input.drawn ?? []) {
    const q = rect(toDisplay(c.bounds, input.image, display));
    ctx.globalAlpha = input.opacity;
    ctx.fillStyle = input.scale(c.score);
    ctx.fillRect(q.x, q.y, q.w, q.h);
    ctx.globalAlpha = 1;
    ctx.setLineDash(c.unit === input.selectedUnit ? [] : [6, 3]);
    ctx.strokeStyle = '#111111';
    ctx.lineWidth = 2;
    ctx.strokeRect(q.x, q.y, q.w, q.h);
    ctx.setLineDash([]);
    ctx.font = `${SMALL}px ${EXPORT_FONT}`;
    ctx.lineWidth = 3;
    ctx.strokeStyle = '#ffffff';
    const label = `${unitLabel(c.label)}: ${formatScore(c.score, 3)}`;
    ctx.strokeText(label, q.x + 4, q.y + 15);
    ctx.fillStyle = '#111111';
    ctx.fillText(label, q.x + 4, q.y + 15);
  }

  // The legend: the same scale as the text heatmap.
  const m = input.scale.maxAbs || 1;
  const ref = colourScale(m);
  const g = ctx.createLinearGradient(L.legend.x, 0, L.legend.x + L.legend.width, 0);
  for (let i = 0; i <= 16; i++) g.addColorStop(i / 16, ref(-m + (2 * m * i) / 16));
  ctx.fillStyle = g;
  ctx.fillRect(L.legend.x, L.legend.y, L.legend.width, L.legend.height);
  ctx.strokeStyle = '#999999';
  ctx.lineWidth = 1;
  ctx.strokeRect(L.legend.x, L.legend.y, L.legend.width, L.legend.height);
  ctx.fillStyle = '#333333';
  ctx.font = `${SMALL}px ${EXPORT_FONT}`;
  ctx.textAlign = 'left';
  ctx.fillText(formatScore(-input.scale.maxAbs, 3), L.legend.x, L.ticksY);
  ctx.textAlign = 'center';
  ctx.fillText('0', L.legend.x + L.legend.width / 2, L.ticksY);
  ctx.textAlign = 'right';
  ctx.fillText(formatScore(input.scale.maxAbs, 3), L.legend.x + L.legend.width, L.ticksY);
  ctx.textAlign = 'left';
  lines.forEach((line, i) => ctx.fillText(line, L.pad, L.captionY + i * (SMALL + 5)));

  return new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas gave no PNG'))), 'image/png'));
}
