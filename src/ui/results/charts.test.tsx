// @vitest-environment happy-dom
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { matrixData, TargetMatrix } from './TargetMatrix';
import { createTargetMatrix, NA_FILL } from './target-matrix';
import { createTopUnitsChart, topUnits } from './top-units-chart';
import { TopUnitsChart } from './TopUnitsChart';
import { testExplanation } from '../../testing/ui-explanation';
import { parseColour, ranks } from './score-view';

afterEach(cleanup);

const click = (el: Element) => el.dispatchEvent(new MouseEvent('click', { bubbles: true }));

describe('createTopUnitsChart', () => {
  const bars = [
    { unit: 2, label: 'a-very-long-unit-label-indeed', score: 2, rank: 1 },
    { unit: 0, label: 'b', score: 0.5, rank: 2 },
    { unit: 1, label: 'c', score: -1, rank: 3 },
  ];

  it('draws signed bars around a zero line, updates, and cleans up on destroy', () => {
    const host = document.createElement('div');
    document.body.append(host);
    const onSelect = vi.fn();
    const chart = createTopUnitsChart(host, { onSelectUnit: onSelect, labelChars: 10 });
    chart.update({ bars, total: 7, maxAbs: 2 });
    const svg = host.querySelector('svg')!;
    expect(svg.getAttribute('role')).toBe('img');
    expect(svg.getAttribute('aria-label')).toBe("Top 3 of 7 units by score: 'a-very-long-unit-label-indeed' +2.00, 'b' +0.500, 'c' -1.00.");
    const g = [...svg.querySelectorAll('g.atman-bar')];
    expect(g.length).toBe(3);
    // label truncated, the full label in <title>
    expect(g[0]!.querySelector('text.atman-bar-label')!.textContent).toBe('a-very-lo…');
    expect(g[0]!.querySelector('title')!.textContent).toBe('a-very-long-unit-label-indeed: +2.000 (rank 1 of 7)');
    // positive bar starts at the zero line, negative bar ends at it
    const zeroX = Number(svg.querySelector('line.atman-zero')!.getAttribute('x1'));
    const rect = (i: number) => g[i]!.querySelector('rect')!;
    expect(Number(rect(0).getAttribute('x'))).toBeCloseTo(zeroX);
    expect(Number(rect(2).getAttribute('x')) + Number(rect(2).getAttribute('width'))).toBeCloseTo(zeroX);
    const [r, , b] = parseColour(rect(0).getAttribute('fill')!);
    expect(r).toBeGreaterThan(b);
    const [r2, , b2] = parseColour(rect(2).getAttribute('fill')!);
    expect(b2).toBeGreaterThan(r2);

    click(g[1]!);
    expect(onSelect).toHaveBeenCalledWith(0);

    chart.update({ bars: bars.slice(0, 2), total: 7, selected: 2 });
    expect(svg.querySelectorAll('g.atman-bar').length).toBe(2);
    expect(svg.querySelector('g.atman-bar.atman-selected')!.getAttribute('data-unit')).toBe('2');

    chart.destroy();
    expect(host.childNodes.length).toBe(0);
    host.remove();
  });

  it('draws into a given <svg> and restores it on destroy', () => {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'mine');
    document.body.append(svg);
    const chart = createTopUnitsChart(svg);
    chart.update({ bars, total: 3 });
    expect(svg.querySelectorAll('rect').length).toBe(3);
    chart.destroy();
    expect(svg.childNodes.length).toBe(0);
    expect(svg.getAttribute('class')).toBe('mine');
    expect(svg.getAttribute('role')).toBeNull();
    svg.remove();
  });

  it('picks the top n by rank', () => {
    const scores = [0.1, -3, 2, 0.5];
    expect(topUnits(['a', 'b', 'c', 'd'], scores, ranks(scores), 2).map((d) => d.label)).toEqual(['c', 'd']);
  });
});

describe('TopUnitsChart', () => {
  it('mounts through a ref, follows new props and removes its drawing on unmount', () => {
    const onSelect = vi.fn();
    const { rerender, unmount } = render(<TopUnitsChart labels={['a', 'b', 'c']} scores={[1, -2, 0.5]} n={2} onSelectUnit={onSelect} />);
    const svg = screen.getByTestId('top-units-chart');
    expect(svg.getAttribute('role')).toBe('img');
    expect([...svg.querySelectorAll('g.atman-bar')].map((g) => g.getAttribute('data-unit'))).toEqual(['0', '2']);
    rerender(<TopUnitsChart labels={['a', 'b', 'c']} scores={[1, -2, 3]} n={3} onSelectUnit={onSelect} />);
    expect([...svg.querySelectorAll('g.atman-bar')].map((g) => g.getAttribute('data-unit'))).toEqual(['2', '0', '1']);
    click(svg.querySelector('g.atman-bar[data-unit="1"]')!);
    expect(onSelect).toHaveBeenCalledWith(1);
    unmount();
    expect(svg.childNodes.length).toBe(0);
  });
});

describe('TargetMatrix', () => {
  const x = testExplanation();

  it('builds rows (target tokens) x columns (units) of R with the causal mask', () => {
    const d = matrixData(x);
    expect(d.rows).toEqual(['on', 'mat']);
    expect(d.cols).toEqual(['<s>', 'The', 'cat', 'sat', 'on']);
    expect(d.values[1]![2]).toBeCloseTo(2 * Math.log(2));
    expect(d.causal![0]).toEqual([true, true, true, true, false]);
    expect(matrixData(testExplanation({ units: [{ ...x.units[0]!, label: ' ' }] })).cols).toEqual(['␣']);
  });

  it('draws the cells, selects a target token from its row label, and cleans up', () => {
    const onTarget = vi.fn();
    const onUnit = vi.fn();
    const { unmount } = render(<TargetMatrix explanation={x} onSelectTarget={onTarget} onSelectUnit={onUnit} selectedTarget={1} />);
    const svg = screen.getByTestId('target-matrix');
    expect(svg.getAttribute('role')).toBe('img');
    expect(svg.getAttribute('aria-label')).toMatch(/2 target tokens \(rows\) by 5 units \(columns\)/);
    const cells = svg.querySelectorAll('rect.atman-cell');
    expect(cells.length).toBe(10);
    const na = svg.querySelector('rect.atman-cell[data-target="0"][data-unit="4"]')!;
    expect(na.getAttribute('fill')).toBe(NA_FILL);
    const rows = svg.querySelectorAll('g.atman-row-label');
    expect([...rows].map((r) => r.querySelector('text')!.textContent)).toEqual(['on', 'mat']);
    expect(rows[0]!.querySelector('title')!.textContent).toBe('target token "on": click to explain it');
    expect(rows[1]!.classList.contains('atman-selected')).toBe(true);
    click(rows[0]!);
    expect(onTarget).toHaveBeenCalledWith(0);
    click(svg.querySelector('rect.atman-cell[data-target="1"][data-unit="3"]')!);
    expect(onUnit).toHaveBeenCalledWith(3);
    unmount();
    expect(svg.childNodes.length).toBe(0);
  });

  it('factory: update replaces the data, destroy removes what it drew', () => {
    const host = document.createElement('div');
    const m = createTargetMatrix(host);
    m.update({ rows: ['a'], cols: ['u', 'v'], values: [[1, -1]] });
    expect(host.querySelectorAll('rect.atman-cell').length).toBe(2);
    m.update({ rows: ['a', 'b'], cols: ['u'], values: [[1], [2]] });
    expect(host.querySelectorAll('rect.atman-cell').length).toBe(2);
    expect(host.querySelectorAll('g.atman-col-label').length).toBe(1);
    m.destroy();
    expect(host.innerHTML).toBe('');
  });
});
