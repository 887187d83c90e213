// d3 factory: deletion and insertion curves of a ranking against k (the number of top units
// removed or kept), with the random ranking's curves dashed as the floor to beat.
// createFaithfulnessChart(el, opts) -> { update(data), destroy() }; el is an <svg> to draw into or
// an element to append one to. Nothing is selected globally.
import { axisBottom, axisLeft, line, scaleLinear, select } from 'd3';
import type { Selection } from 'd3';
import { type Chart, ownSvg } from '../results/top-units-chart';

export interface FaithfulnessChartData {
  /** number of top units at each point */
  ks: readonly number[];
  unitCount: number;
  /** target probability with the top-k units removed */
  deletion: readonly number[];
  /** target probability with all but the top-k units removed */
  insertion: readonly number[];
  /** the same curves for random rankings (the floor); null when not measured */
  random?: { deletion: readonly number[]; insertion: readonly number[] } | null;
  /** one line above the plot, e.g. the method */
  title?: string;
}

export interface FaithfulnessChartOptions {
  /** viewBox width (the svg scales to its container) */
  width?: number;
  height?: number;
  fontSize?: number;
}

// The heatmap's colour-blind-safe pair: blue for deletion, orange for insertion.
export const DELETION_COLOUR = '#2166ac';
export const INSERTION_COLOUR = '#e66101';

type Series = { key: string; label: string; values: readonly number[]; colour: string; dashed: boolean };

const pct = (p: number): string => `${(p * 100).toPrecision(3)}%`;

export function createFaithfulnessChart(el: SVGSVGElement | HTMLElement, opts: FaithfulnessChartOptions = {}): Chart<FaithfulnessChartData> {
  const { svg: node, release } = ownSvg(el);
  const W = opts.width ?? 560;
  const H = opts.height ?? 300;
  const fs = opts.fontSize ?? 14;
  const margin = { top: 14 + fs * 2.4, right: 16, bottom: 36 + fs, left: 64 };

  const svg = select(node).attr('role', 'img').attr('class', 'atman-chart atman-faithfulness-chart').attr('viewBox', `0 0 ${W} ${H}`).attr('preserveAspectRatio', 'xMinYMin meet');
  const root: Selection<SVGGElement, unknown, null, undefined> = svg.append('g').attr('class', 'atman-chart-root');
  const title = root.append('text').attr('class', 'atman-faith-title').attr('x', 10).attr('y', fs + 2).attr('font-size', fs).attr('fill', '#333');
  const legend = root.append('g').attr('class', 'atman-faith-legend');
  const xAxis = root.append('g').attr('class', 'atman-faith-x').attr('transform', `translate(0, ${H - margin.bottom})`);
  const yAxis = root.append('g').attr('class', 'atman-faith-y').attr('transform', `translate(${margin.left}, 0)`);
  root
    .append('text')
    .attr('class', 'atman-faith-xlabel')
    .attr('x', (margin.left + W - margin.right) / 2)
    .attr('y', H - 6)
    .attr('text-anchor', 'middle')
    .attr('font-size', fs)
    .attr('fill', '#333')
    .text('k = number of top-ranked units removed (deletion) or kept (insertion)');
  root
    .append('text')
    .attr('class', 'atman-faith-ylabel')
    .attr('transform', `translate(14, ${(margin.top + H - margin.bottom) / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .attr('font-size', fs)
    .attr('fill', '#333')
    .text('target probability');
  const lines = root.append('g').attr('class', 'atman-faith-lines');

  function update(data: FaithfulnessChartData): void {
    const series: Series[] = [
      { key: 'deletion', label: 'deletion', values: data.deletion, colour: DELETION_COLOUR, dashed: false },
      { key: 'insertion', label: 'insertion', values: data.insertion, colour: INSERTION_COLOUR, dashed: false },
      ...(data.random
        ? [
            { key: 'random-deletion', label: 'random deletion', values: data.random.deletion, colour: DELETION_COLOUR, dashed: true },
            { key: 'random-insertion', label: 'random insertion', values: data.random.insertion, colour: INSERTION_COLOUR, dashed: true },
          ]
        : []),
    ];
    const all = series.flatMap((s) => s.values.filter(Number.isFinite));
    const top = Math.max(0, ...all);
    const n = Math.max(1, data.unitCount);
    const x = scaleLinear().domain([0, n]).range([margin.left, W - margin.right]);
    const y = scaleLinear()
      .domain([0, top > 0 ? top * 1.05 : 1])
      .range([H - margin.bottom, margin.top])
      .nice();
    xAxis.call(axisBottom(x).ticks(Math.min(n, 10)).tickFormat((v) => String(v)));
    yAxis.call(
      axisLeft(y)
        .ticks(5)
        .tickFormat((v) => pct(Number(v))),
    );
    for (const g of [xAxis, yAxis]) g.selectAll('text').attr('font-size', fs - 2);
    title.text(data.title ?? '');

    const path = line<number>()
      .defined((v) => Number.isFinite(v))
      .x((_, i) => x(data.ks[i] ?? i))
      .y((v) => y(v));
    lines
      .selectAll<SVGPathElement, Series>('path')
      .data(series, (s) => s.key)
      .join('path')
      .attr('class', (s) => `atman-faith-curve atman-faith-${s.key}`)
      .attr('data-points', (s) => s.values.map((v) => v.toPrecision(4)).join(' '))
      .attr('fill', 'none')
      .attr('stroke', (s) => s.colour)
      .attr('stroke-width', (s) => (s.dashed ? 2 : 3))
      .attr('stroke-dasharray', (s) => (s.dashed ? '7 5' : null))
      .attr('opacity', (s) => (s.dashed ? 0.8 : 1))
      .attr('d', (s) => path([...s.values]));
    // Points on the measured curves, so single values (few units) stay visible.
    lines
      .selectAll<SVGGElement, Series>('g.atman-faith-points')
      .data(
        series.filter((s) => !s.dashed),
        (s) => s.key,
      )
      .join('g')
      .attr('class', 'atman-faith-points')
      .attr('fill', (s) => s.colour)
      .selectAll('circle')
      .data((s) => s.values.map((v, i) => ({ v, k: data.ks[i] ?? i, s })))
      .join((enter) => {
        const c = enter.append('circle').attr('r', 3.5);
        c.append('title');
        return c;
      })
      .attr('cx', (d) => x(d.k))
      .attr('cy', (d) => (Number.isFinite(d.v) ? y(d.v) : y(0)))
      .select('title')
      .text((d) => `${d.s.label}, k = ${d.k}: ${pct(d.v)}`);

    const items = legend
      .selectAll<SVGGElement, Series>('g.atman-faith-key')
      .data(series, (s) => s.key)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'atman-faith-key');
        g.append('line').attr('x1', 0).attr('x2', 26).attr('y1', 0).attr('y2', 0);
        g.append('text').attr('x', 32).attr('dy', '0.35em').attr('fill', '#333');
        return g;
      });
    // Each key as wide as its label (no text measuring in every environment: an estimate per character).
    const offsets = series.reduce<number[]>((acc, s, i) => [...acc, i === 0 ? 0 : acc[i - 1]! + 50 + series[i - 1]!.label.length * (fs - 2) * 0.58], []);
    items.attr('transform', (_, i) => `translate(${10 + offsets[i]!}, ${fs * 2.3})`);
    items
      .select('line')
      .attr('stroke', (s) => s.colour)
      .attr('stroke-width', (s) => (s.dashed ? 2 : 3))
      .attr('stroke-dasharray', (s) => (s.dashed ? '7 5' : null));
    items
      .select('text')
      .attr('font-size', fs - 2)
      .text((s) => s.label);

    const at = (vs: readonly number[]) => (vs.length ? `${pct(vs[0]!)} at k = 0 to ${pct(vs[vs.length - 1]!)} at k = ${data.ks[data.ks.length - 1] ?? n}` : 'no points');
    svg.attr(
      'aria-label',
      `Faithfulness curves over ${data.unitCount} units: deletion from ${at(data.deletion)}; insertion from ${at(data.insertion)}${data.random ? '; dashed: the same for random rankings' : ''}.`,
    );
  }

  return {
    update,
    destroy() {
      root.remove();
      release();
    },
  };
}
