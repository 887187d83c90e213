// d3 factory: horizontal signed bars of the top units by score around a zero line.
// createTopUnitsChart(el, opts) -> { update(data), destroy() }; el is an <svg> to draw into or an
// element to append one to. Nothing is selected globally.
import { scaleBand, scaleLinear, select } from 'd3';
import type { Selection } from 'd3';
import { colourScale, formatScore, truncate } from './score-view';

export interface TopUnitsDatum {
  unit: number;
  label: string;
  score: number;
  rank: number;
}

export interface TopUnitsData {
  bars: TopUnitsDatum[];
  /** how many units there are in all (for the summary) */
  total: number;
  /** the colour scale's domain, [-maxAbs, maxAbs]; default: the bars' own */
  maxAbs?: number;
  selected?: number | null;
  /** the width the chart is shown at, in CSS pixels: drawn 1:1 so its text keeps its size */
  width?: number;
}

export interface TopUnitsChartOptions {
  onSelectUnit?: (unit: number) => void;
  /** viewBox width (the svg scales to its container) */
  width?: number;
  barHeight?: number;
  labelChars?: number;
  fontSize?: number;
}

export interface Chart<D> {
  update(data: D): void;
  destroy(): void;
}

/** The top n units by score (highest first), ties by unit order. */
export function topUnits(labels: readonly string[], scores: readonly number[], rank: readonly number[], n: number): TopUnitsDatum[] {
  return scores
    .map((score, unit) => ({ unit, label: labels[unit] ?? String(unit), score, rank: rank[unit] ?? 0 }))
    .sort((a, b) => a.rank - b.rank || a.unit - b.unit)
    .slice(0, Math.max(0, n));
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Appends an <svg> to an HTML element, or uses the given one; `release` undoes it. */
export function ownSvg(el: SVGSVGElement | HTMLElement): { svg: SVGSVGElement; release: () => void } {
  if (el.namespaceURI === SVG_NS && el.localName === 'svg') {
    const svg = el as SVGSVGElement;
    const saved = ['role', 'aria-label', 'viewBox', 'class'].map((a) => [a, svg.getAttribute(a)] as const);
    return {
      svg,
      release: () => {
        svg.replaceChildren();
        for (const [a, v] of saved) v === null ? svg.removeAttribute(a) : svg.setAttribute(a, v);
      },
    };
  }
  const svg = el.ownerDocument.createElementNS(SVG_NS, 'svg') as SVGSVGElement;
  el.appendChild(svg);
  return { svg, release: () => svg.remove() };
}

export function createTopUnitsChart(el: SVGSVGElement | HTMLElement, opts: TopUnitsChartOptions = {}): Chart<TopUnitsData> {
  const { svg: node, release } = ownSvg(el);
  const barH = opts.barHeight ?? 30;
  const fontSize = opts.fontSize ?? 15;
  // Drawn at the width it is shown at, the labels get 60% of it (a sentence unit reads whole at
  // 1280x720): scaled down from a fixed 640 they shrank to ~11 px and were cut at 16 characters.
  // 0.55 em is a generous average width of a character of the sans-serif labels.
  const layout = (width: number | undefined) => {
    const W = Math.max(240, Math.round(width ?? opts.width ?? 640));
    const labelChars = opts.labelChars ?? Math.max(10, Math.min(48, Math.floor((W * 0.6 - 12) / (fontSize * 0.55))));
    return { W, labelChars, margin: { top: 8, right: 64, bottom: 8, left: Math.round(labelChars * fontSize * 0.55) + 12 } };
  };

  const svg = select(node).attr('role', 'img').attr('class', 'atman-chart atman-top-units');
  const root: Selection<SVGGElement, unknown, null, undefined> = svg.append('g').attr('class', 'atman-chart-root');
  const zero = root.append('line').attr('class', 'atman-zero').attr('stroke', '#333').attr('stroke-width', 1.5);
  const barsG = root.append('g').attr('class', 'atman-bars');

  function update(data: TopUnitsData): void {
    const { W, labelChars, margin } = layout(data.width);
    const bars = data.bars;
    const H = margin.top + margin.bottom + Math.max(1, bars.length) * barH;
    svg.attr('viewBox', `0 0 ${W} ${H}`).attr('preserveAspectRatio', 'xMinYMin meet');
    const top3 = bars
      .slice(0, 3)
      .map((b) => `'${b.label}' ${formatScore(b.score, 3)}`)
      .join(', ');
    svg.attr(
      'aria-label',
      bars.length === 0 ? 'No units to chart.' : `Top ${bars.length} of ${data.total} units by score${top3 ? `: ${top3}` : ''}.`,
    );

    const finite = bars.map((b) => b.score).filter(Number.isFinite);
    const lo = Math.min(0, ...finite);
    const hi = Math.max(0, ...finite);
    const x = scaleLinear()
      .domain(lo === hi ? [-1, 1] : [lo, hi])
      .range([margin.left, W - margin.right]);
    const y = scaleBand<number>()
      .domain(bars.map((b) => b.unit))
      .range([margin.top, H - margin.bottom])
      .padding(0.18);
    const colour = colourScale(data.maxAbs ?? Math.max(Math.abs(lo), Math.abs(hi)));
    zero.attr('x1', x(0)).attr('x2', x(0)).attr('y1', margin.top - 4).attr('y2', H - margin.bottom + 4);

    const g = barsG
      .selectAll<SVGGElement, TopUnitsDatum>('g.atman-bar')
      .data(bars, (d) => String(d.unit))
      .join((enter) => {
        const e = enter.append('g').attr('class', 'atman-bar');
        e.append('title');
        e.append('rect').attr('class', 'atman-bar-rect');
        e.append('text').attr('class', 'atman-bar-label');
        e.append('text').attr('class', 'atman-bar-value');
        return e;
      });
    g.attr('transform', (d) => `translate(0, ${y(d.unit) ?? 0})`)
      .attr('data-unit', (d) => d.unit)
      .attr('data-score', (d) => d.score)
      .classed('atman-selected', (d) => d.unit === data.selected)
      .style('cursor', opts.onSelectUnit ? 'pointer' : 'default')
      .on('click', (_e: MouseEvent, d: TopUnitsDatum) => opts.onSelectUnit?.(d.unit));
    const bw = y.bandwidth();
    g.select('title').text((d) => `${d.label}: ${formatScore(d.score, 4)} (rank ${d.rank} of ${data.total})`);
    g.select<SVGRectElement>('rect')
      .attr('x', (d) => (Number.isFinite(d.score) ? x(Math.min(0, d.score)) : x(0)))
      .attr('width', (d) => (Number.isFinite(d.score) ? Math.abs(x(d.score) - x(0)) : 0))
      .attr('y', 0)
      .attr('height', bw)
      .attr('fill', (d) => colour(d.score))
      .attr('stroke', (d) => (d.unit === data.selected ? '#111' : '#666'))
      .attr('stroke-width', (d) => (d.unit === data.selected ? 3 : 1));
    g.select<SVGTextElement>('text.atman-bar-label')
      .attr('x', margin.left - 10)
      .attr('y', bw / 2)
      .attr('dy', '0.35em')
      .attr('text-anchor', 'end')
      .attr('font-size', fontSize)
      .attr('fill', '#111')
      .text((d) => truncate(d.label, labelChars));
    g.select<SVGTextElement>('text.atman-bar-value')
      .attr('x', (d) => (Number.isFinite(d.score) ? x(Math.max(0, d.score)) + 6 : x(0) + 6))
      .attr('y', bw / 2)
      .attr('dy', '0.35em')
      .attr('font-size', fontSize - 2)
      .attr('fill', '#333')
      .text((d) => formatScore(d.score, 3));
  }

  return {
    update,
    destroy() {
      barsG.selectAll('g.atman-bar').on('click', null);
      root.remove();
      release();
    },
  };
}
