// d3 factory: per-token targets as a heatmap matrix, target tokens (rows) x input units (columns)
// of R[u,t]. Clicking a row label selects that target token; a cell or column label selects the unit.
import { select } from 'd3';
import { colourScale, formatScore, maxAbs as maxAbsOf, truncate } from './score-view';
import { ownSvg } from './top-units-chart';
import type { Chart } from './top-units-chart';

export interface TargetMatrixData {
  /** one label per target token (row) */
  rows: string[];
  /** one label per unit (column) */
  cols: string[];
  /** values[t][u] = R[u,t] */
  values: number[][];
  /** causal[t][u] false where unit u comes after target token t (drawn grey, no colour) */
  causal?: boolean[][];
  maxAbs?: number;
  selectedTarget?: number | null;
  selectedUnit?: number | null;
}

export interface TargetMatrixOptions {
  onSelectTarget?: (t: number) => void;
  onSelectUnit?: (unit: number) => void;
  cellWidth?: number;
  cellHeight?: number;
  fontSize?: number;
  labelChars?: number;
}

interface Cell {
  t: number;
  u: number;
  v: number;
  causal: boolean;
}

export const NA_FILL = '#eeeeee';

export function createTargetMatrix(el: SVGSVGElement | HTMLElement, opts: TargetMatrixOptions = {}): Chart<TargetMatrixData> {
  const { svg: node, release } = ownSvg(el);
  const fs = opts.fontSize ?? 15;
  const labelChars = opts.labelChars ?? 12;
  const cellH = opts.cellHeight ?? 30;
  const svg = select(node).attr('role', 'img').attr('class', 'atman-chart atman-target-matrix');
  const root = svg.append('g').attr('class', 'atman-chart-root');
  const colG = root.append('g').attr('class', 'atman-col-labels');
  const rowG = root.append('g').attr('class', 'atman-row-labels');
  const cellG = root.append('g').attr('class', 'atman-cells');

  function update(data: TargetMatrixData): void {
    const R = data.rows.length;
    const C = data.cols.length;
    const cellW = opts.cellWidth ?? Math.max(22, Math.min(48, Math.floor(900 / Math.max(1, C))));
    const left = Math.round(labelChars * fs * 0.62) + 14;
    const top = Math.round(labelChars * fs * 0.62 * 0.72) + 18;
    const W = left + C * cellW + 10;
    const H = top + R * cellH + 10;
    svg.attr('viewBox', `0 0 ${W} ${H}`).attr('preserveAspectRatio', 'xMinYMin meet');

    const cells: Cell[] = [];
    const all: number[] = [];
    data.values.forEach((row, t) =>
      row.forEach((v, u) => {
        const causal = data.causal?.[t]?.[u] ?? true;
        cells.push({ t, u, v, causal });
        if (causal) all.push(v);
      }),
    );
    const m = data.maxAbs ?? maxAbsOf(all);
    const colour = colourScale(m);
    svg.attr(
      'aria-label',
      `Relevance matrix: ${R} target token${R === 1 ? '' : 's'} (rows) by ${C} unit${C === 1 ? '' : 's'} (columns), colour from ${formatScore(-m, 3)} to ${formatScore(m, 3)}.`,
    );

    const rowSel = rowG
      .selectAll<SVGGElement, string>('g.atman-row-label')
      .data(data.rows)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'atman-row-label');
        g.append('title');
        g.append('text');
        return g;
      })
      .classed('atman-selected', (_d, t) => t === data.selectedTarget)
      .attr('data-target', (_d, t) => t)
      .style('cursor', opts.onSelectTarget ? 'pointer' : 'default');
    rowSel.each(function (_d, t) {
      select(this).on('click', () => opts.onSelectTarget?.(t));
    });
    rowSel.select('title').text((d) => `target token ${JSON.stringify(d)}: click to explain it`);
    rowSel
      .select('text')
      .attr('x', left - 8)
      .attr('y', (_d, t) => top + t * cellH + cellH / 2)
      .attr('dy', '0.35em')
      .attr('text-anchor', 'end')
      .attr('font-size', fs)
      .attr('font-weight', (_d, t) => (t === data.selectedTarget ? 700 : 400))
      .attr('fill', '#111')
      .text((d) => truncate(d, labelChars));

    const colSel = colG
      .selectAll<SVGGElement, string>('g.atman-col-label')
      .data(data.cols)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'atman-col-label');
        g.append('title');
        g.append('text');
        return g;
      })
      .classed('atman-selected', (_d, u) => u === data.selectedUnit)
      .attr('data-unit', (_d, u) => u)
      .attr('transform', (_d, u) => `translate(${left + u * cellW + cellW / 2}, ${top - 8}) rotate(-45)`)
      .style('cursor', opts.onSelectUnit ? 'pointer' : 'default');
    colSel.each(function (_d, u) {
      select(this).on('click', () => opts.onSelectUnit?.(u));
    });
    colSel.select('title').text((d) => d);
    colSel
      .select('text')
      .attr('font-size', fs - 1)
      .attr('font-weight', (_d, u) => (u === data.selectedUnit ? 700 : 400))
      .attr('fill', '#111')
      .text((d) => truncate(d, labelChars));

    const cell = cellG
      .selectAll<SVGRectElement, Cell>('rect.atman-cell')
      .data(cells, (d) => `${d.t}:${d.u}`)
      .join('rect')
      .attr('class', (d) => `atman-cell${d.causal ? '' : ' atman-na'}`)
      .attr('data-target', (d) => d.t)
      .attr('data-unit', (d) => d.u)
      .attr('data-value', (d) => d.v)
      .attr('x', (d) => left + d.u * cellW)
      .attr('y', (d) => top + d.t * cellH)
      .attr('width', cellW - 1)
      .attr('height', cellH - 1)
      .attr('fill', (d) => (d.causal ? colour(d.v) : NA_FILL))
      .attr('stroke', (d) => (d.t === data.selectedTarget || d.u === data.selectedUnit ? '#111' : 'none'))
      .attr('stroke-width', (d) => (d.t === data.selectedTarget && d.u === data.selectedUnit ? 3 : 1))
      .style('cursor', opts.onSelectUnit ? 'pointer' : 'default')
      .on('click', (_e: MouseEvent, d: Cell) => opts.onSelectUnit?.(d.u));
    cell
      .selectAll('title')
      .data((d) => [d])
      .join('title')
      .text((d) =>
        d.causal
          ? `${JSON.stringify(data.cols[d.u])} for target token ${JSON.stringify(data.rows[d.t])}: R = ${formatScore(d.v, 4)}`
          : `${JSON.stringify(data.cols[d.u])} comes after target token ${JSON.stringify(data.rows[d.t])}`,
      );
  }

  return {
    update,
    destroy() {
      root.selectAll('*').on('click', null);
      root.remove();
      release();
    },
  };
}
