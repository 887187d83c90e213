// Exports of the results view: the Explanation as JSON, any chart as a standalone SVG, the heatmap
// as an SVG drawing of its own (heatmapSvg) and PNGs rasterised from SVG through an Image + canvas.
import type { Explanation } from '../../runtime/schema';
import type { FaithfulnessSummary } from '../../state/faithfulness-summary';
import { SIGN_IN_WORDS } from './Legend';
import { colourScale, formatScore, maxAbs, unitScores } from './score-view';
import { heatmapRunsWithImage } from '../image/image-chip';
import type { Piece } from './text-pieces';

const SVG_NS = 'http://www.w3.org/2000/svg';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
export const EXPORT_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

/**
 * The Explanation exactly as it came, as pretty JSON; with its faithfulness measurement (curves,
 * AOPC, ABPC and the random floor) under `faithfulness` when one was made for it.
 */
export function exportJson(x: Explanation, faithfulness?: FaithfulnessSummary | null): Blob {
  const out = faithfulness ? { ...x, faithfulness } : x;
  return new Blob([JSON.stringify(out, null, 2) + '\n'], { type: 'application/json' });
}

/** Presentation properties copied from computed style onto the clone, so it renders without the page's CSS. */
const INLINE = [
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-width',
  'stroke-dasharray',
  'stroke-opacity',
  'opacity',
  'font-family',
  'font-size',
  'font-weight',
  'font-style',
  'text-anchor',
  'dominant-baseline',
  'text-decoration',
  'white-space',
  'visibility',
  'display',
] as const;

/** Serialises an <svg> with its computed styles inlined, sized from its viewBox. */
export function svgString(svgEl: SVGSVGElement): string {
  const clone = svgEl.cloneNode(true) as SVGSVGElement;
  const view = svgEl.ownerDocument.defaultView;
  const src = [svgEl, ...Array.from(svgEl.querySelectorAll('*'))];
  const dst = [clone, ...Array.from(clone.querySelectorAll('*'))];
  src.forEach((el, i) => {
    const out = dst[i] as SVGElement | undefined;
    if (!out || !view) return;
    let cs: CSSStyleDeclaration | null = null;
    try {
      cs = view.getComputedStyle(el);
    } catch {
      cs = null;
    }
    if (!cs) return;
    const decl: string[] = [];
    for (const p of INLINE) {
      const v = cs.getPropertyValue(p);
      if (v && !el.getAttribute(p)) decl.push(`${p}: ${v}`);
    }
    if (decl.length) out.setAttribute('style', [out.getAttribute('style') ?? '', ...decl].filter(Boolean).join('; '));
  });
  clone.setAttribute('xmlns', SVG_NS);
  clone.setAttribute('xmlns:xlink', 'http://www.w3.org/1999/xlink');
  if (!clone.getAttribute('font-family')) clone.setAttribute('font-family', EXPORT_FONT);
  const size = svgSize(svgEl);
  if (!clone.getAttribute('width')) clone.setAttribute('width', String(size.width));
  if (!clone.getAttribute('height')) clone.setAttribute('height', String(size.height));
  clone.removeAttribute('data-testid');
  const xml = new (view?.XMLSerializer ?? XMLSerializer)().serializeToString(clone);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
}

/** A chart (or heatmapSvg's drawing) as a standalone SVG file. */
export function exportSvg(svgEl: SVGSVGElement): Blob {
  return new Blob([svgString(svgEl)], { type: 'image/svg+xml;charset=utf-8' });
}

/** Size of an svg from its width/height attributes, else its viewBox, else 300x150. */
export function svgSize(svgEl: SVGSVGElement): { width: number; height: number } {
  const w = parseFloat(svgEl.getAttribute('width') ?? '');
  const h = parseFloat(svgEl.getAttribute('height') ?? '');
  if (w > 0 && h > 0) return { width: w, height: h };
  const vb = (svgEl.getAttribute('viewBox') ?? '').split(/[\s,]+/).map(Number);
  if (vb.length === 4 && vb[2]! > 0 && vb[3]! > 0) return { width: vb[2]!, height: vb[3]! };
  return { width: 300, height: 150 };
}

export interface HeatmapSvgOptions {
  targetIndex?: number | null;
  /** drawing width in px; lines wrap to fit */
  width?: number;
  fontSize?: number;
  fontFamily?: string;
  /** a heading above the text; default: the model and what the scores are over */
  title?: string | null;
  /** draw the colour bar and the sign below the text; default true */
  legend?: boolean;
  document?: Document;
}

type Measure = (text: string, font: string) => number;

function measurer(doc: Document, fontSize: number): Measure {
  let ctx: CanvasRenderingContext2D | null = null;
  try {
    const c = doc.createElement('canvas');
    ctx = typeof c.getContext === 'function' ? (c.getContext('2d') as CanvasRenderingContext2D | null) : null;
    if (ctx && typeof ctx.measureText !== 'function') ctx = null;
  } catch {
    ctx = null;
  }
  return (text, font) => {
    if (ctx) {
      ctx.font = font;
      const w = ctx.measureText(text).width;
      if (Number.isFinite(w) && (w > 0 || text === '')) return w;
    }
    return [...text].length * fontSize * 0.6;
  };
}

/**
 * The heatmap as an SVG drawing: tokens laid out as text on coloured rects, wrapping lines at
 * token boundaries, the target underlined, special tokens as grey chips, and the legend below.
 * Text goes in through textContent.
 */
export function heatmapSvg(x: Explanation, opts: HeatmapSvgOptions = {}): SVGSVGElement {
  const doc = opts.document ?? document;
  const fs = opts.fontSize ?? 18;
  const family = opts.fontFamily ?? EXPORT_FONT;
  const W = opts.width ?? 960;
  const pad = 16;
  const lineH = Math.round(fs * 1.9);
  const targetIndex = opts.targetIndex ?? null;
  const scores = unitScores(x, targetIndex);
  const m = maxAbs(scores);
  const scale = colourScale(m);
  const font = `${fs}px ${family}`;
  const chipFont = `${Math.round(fs * 0.7)}px ${family}`;
  const measure = measurer(doc, fs);
  const el = <K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] => {
    const e = doc.createElementNS(SVG_NS, name) as SVGElementTagNameMap[K];
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) {
      e.setAttributeNS(XML_NS, 'xml:space', 'preserve');
      e.textContent = text;
    }
    return e;
  };

  const svg = el('svg', { xmlns: SVG_NS, 'font-family': family, 'font-size': fs });
  svg.append(el('rect', { x: 0, y: 0, width: '100%', height: '100%', fill: '#ffffff' }));
  let y = pad;
  const title =
    opts.title !== undefined
      ? opts.title
      : `AtMan on ${x.model.id}: ${targetIndex === null ? 'score over the whole target' : `scores for target token ${targetIndex + 1}`}`;
  if (title) {
    svg.append(el('text', { x: pad, y: y + fs, 'font-size': Math.round(fs * 0.8), fill: '#444' }, title));
    y += Math.round(fs * 1.8);
  }

  // An in-sequence model's image tokens: one chip (their scores are drawn over the picture).
  const runs = heatmapRunsWithImage(x);
  let cx = pad;
  let line = 0;
  const top = y;
  const baseline = (): number => top + line * lineH + Math.round(fs * 1.2);
  const newline = (): void => {
    line++;
    cx = pad;
  };
  const place = (w: number): void => {
    if (cx + w > W - pad && cx > pad) newline();
  };
  const drawPiece = (p: Piece, bg: string | null, fg: string, target: boolean): void => {
    if (p.kind === 'gap') {
      const parts = p.text.split('\n');
      parts.forEach((part, i) => {
        if (i > 0) newline();
        if (part && cx > pad) cx += measure(part, font);
      });
      return;
    }
    if (p.chip) {
      const w = measure(p.text, chipFont) + 10;
      place(w + 4);
      const b = baseline();
      svg.append(el('rect', { x: cx + 1, y: b - fs * 0.95, width: w, height: fs * 1.2, rx: 4, fill: bg ?? '#eeeeee', stroke: '#999999' }));
      svg.append(el('text', { x: cx + 6, y: b - fs * 0.18, 'font-size': Math.round(fs * 0.7), fill: '#666666' }, p.text));
      cx += w + 4;
      return;
    }
    const w = measure(p.text, font);
    place(w);
    const b = baseline();
    // a hair wider than the text, so neighbouring pieces of one unit leave no seam
    if (bg) svg.append(el('rect', { x: cx, y: b - fs * 1.05, width: Math.max(1, w) + 0.75, height: fs * 1.45, fill: bg }));
    svg.append(el('text', { x: cx, y: b, fill: fg }, p.text));
    if (target) svg.append(el('line', { x1: cx, x2: cx + w, y1: b + fs * 0.25, y2: b + fs * 0.25, stroke: '#111111', 'stroke-width': 2 }));
    cx += w;
  };
  for (const [part, target] of [
    [runs.prompt, false],
    [runs.target, true],
  ] as const) {
    for (const r of part) {
      if (r.kind === 'plain') drawPiece(r.piece, null, '#111111', target);
      else {
        const s = scores[r.unit]!;
        for (const p of r.pieces) drawPiece(p, p.kind === 'gap' ? null : scale(s), scale.text(s), target);
      }
    }
  }
  y = top + (line + 1) * lineH + 8;

  if (opts.legend !== false) {
    const barW = Math.min(360, W - 2 * pad);
    const gid = `atman-legend-${Math.random().toString(36).slice(2, 8)}`;
    const defs = el('defs', {});
    const grad = el('linearGradient', { id: gid, x1: 0, x2: 1, y1: 0, y2: 0 });
    const sm = scale.maxAbs || 1;
    const ref = colourScale(sm);
    for (let i = 0; i <= 16; i++) grad.append(el('stop', { offset: `${(100 * i) / 16}%`, 'stop-color': ref(-sm + (2 * sm * i) / 16) }));
    defs.append(grad);
    svg.append(defs);
    svg.append(el('rect', { x: pad, y, width: barW, height: 14, fill: `url(#${gid})`, stroke: '#999999' }));
    const ly = y + 14 + Math.round(fs * 0.9);
    const small = Math.round(fs * 0.7);
    svg.append(el('text', { x: pad, y: ly, 'font-size': small, fill: '#333333' }, formatScore(-m, 3)));
    svg.append(el('text', { x: pad + barW / 2, y: ly, 'font-size': small, fill: '#333333', 'text-anchor': 'middle' }, '0'));
    svg.append(el('text', { x: pad + barW, y: ly, 'font-size': small, fill: '#333333', 'text-anchor': 'end' }, formatScore(m, 3)));
    y = ly + Math.round(fs * 0.5);
    // the sign sentence, wrapped
    const words = `${SIGN_IN_WORDS}.`.split(' ');
    let lineText = '';
    const smallFont = `${small}px ${family}`;
    const flush = (): void => {
      y += Math.round(small * 1.4);
      svg.append(el('text', { x: pad, y, 'font-size': small, fill: '#333333' }, lineText));
      lineText = '';
    };
    for (const w of words) {
      const next = lineText ? `${lineText} ${w}` : w;
      if (lineText && measure(next, smallFont) > W - 2 * pad) flush();
      lineText = lineText ? `${lineText} ${w}` : w;
    }
    if (lineText) flush();
  }
  const H = Math.ceil(y + pad);
  svg.setAttribute('width', String(W));
  svg.setAttribute('height', String(H));
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Heatmap of ${x.units.length} units over the prompt, colour from ${formatScore(-m, 3)} to ${formatScore(m, 3)}`);
  return svg;
}

/**
 * Rasterises an SVG (an <svg>, or the first <svg> inside an HTML element) to a PNG at `scale`.
 * For the HTML heatmap pass heatmapSvg(explanation): HTML itself is not rasterised.
 */
export async function exportPng(element: HTMLElement | SVGSVGElement, scale = 2): Promise<Blob> {
  const svgEl = element.localName === 'svg' ? (element as SVGSVGElement) : element.querySelector('svg');
  if (!svgEl) throw new TypeError('exportPng needs an <svg>; for the heatmap pass heatmapSvg(explanation).');
  const doc = svgEl.ownerDocument;
  const { width, height } = svgSize(svgEl);
  const url = URL.createObjectURL(exportSvg(svgEl));
  try {
    const img = new (doc.defaultView?.Image ?? Image)();
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('the SVG could not be drawn as an image'));
      img.src = url;
    });
    const canvas = doc.createElement('canvas');
    canvas.width = Math.ceil(width * scale);
    canvas.height = Math.ceil(height * scale);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas to rasterise into');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0, width, height);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas gave no PNG'))), 'image/png'),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Saves a blob under a file name through a temporary object URL and <a download>. */
export function downloadBlob(blob: Blob, filename: string, doc: Document = document): void {
  const url = URL.createObjectURL(blob);
  const a = doc.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  a.style.display = 'none';
  doc.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file-name stem from the prompt: "atman-the-capital-of-france". */
export function fileStem(x: Pick<Explanation, 'prompt'>): string {
  const words = x.prompt
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `atman${words ? `-${words}` : ''}`;
}
