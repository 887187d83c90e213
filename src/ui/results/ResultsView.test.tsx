// @vitest-environment happy-dom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Explanation } from '../../runtime/schema';
import llama from './__fixtures__/tiny-llama-per-token.json';
import { ResultsView, summaryLine } from './ResultsView';
import { completeExplanation, testExplanation } from '../../testing/ui-explanation';
import { UnitDetails } from './UnitDetails';
import { Legend } from './Legend';

afterEach(cleanup);

const noop = () => {};

describe('ResultsView', () => {
  it('composes heatmap, legend, chart, matrix (per-token) and details, with the summary line', () => {
    const x = testExplanation();
    render(<ResultsView explanation={x} selectedUnit={null} onSelectUnit={noop} selectedTarget={null} onSelectTarget={noop} />);
    for (const id of ['prompt-heatmap', 'legend', 'top-units-chart', 'target-matrix', 'unit-details']) expect(screen.getByTestId(id)).toBeTruthy();
    expect(summaryLine(x)).toBe('6 passes in 2.3 s on WebGPU: google swiftshader, batch 16; multiplicative, factor 0.1, kappa 0.7');
    expect(screen.getByTestId('results-summary').textContent).toContain(summaryLine(x));
  });

  it('says in the summary line when rows were coupled and how the passes ran', () => {
    const x = testExplanation();
    const exact = { ...x, run: { ...x.run, rowCoupling: { reason: 'DynamicQuantizeLinear', handling: 'exact' as const } } };
    expect(summaryLine(exact)).toMatch(/couples rows and batch items .* one at a time for exact scores$/);
    const deviation = { passesCompared: 9, baselineMaxAbsDiff: 0.01, maxAbsScoreDiff: 0.05, maxAbsScore: 1, relative: 0.05 };
    const fast = { ...x, run: { ...x.run, rowCoupling: { reason: 'DynamicQuantizeLinear', handling: 'dequantized' as const, deviation } } };
    expect(summaryLine(fast)).toMatch(/dequantized variant: scores within 5\.0% of the largest score .* 9 passes\)$/);
  });

  it('says in the summary line which attention ran for a fused-attention model, and nothing without one', () => {
    const x = testExplanation();
    const run = { scoreHead: true, prefixReuse: 'used', notes: [], batches: 1, batchSize: 16, rowsComputed: 6, rowsFullRecompute: 6, passesSkipped: 0, ioPeakBytes: 0 };
    const rewritten = { ...x, run: { ...run, attention: '2 GroupQueryAttention rewritten as standard ops (multiplicative mode needs the raw q·k scores)' } };
    expect(summaryLine(rewritten)).toMatch(/score head\); attention: 2 GroupQueryAttention rewritten as standard ops \(multiplicative mode needs the raw q·k scores\)$/);
    expect(summaryLine({ ...x, run })).toMatch(/score head\)$/);
  });

  it('shows the matrix only for per-token targets', () => {
    render(<ResultsView explanation={completeExplanation()} selectedUnit={null} onSelectUnit={noop} selectedTarget={null} onSelectTarget={noop} />);
    expect(screen.queryByTestId('target-matrix')).toBeNull();
    expect(screen.queryByTestId('target-picker')).toBeNull();
    expect(screen.getAllByTestId('unit').length).toBe(4);
  });

  it('passes selections out: units from the heatmap and chart, target tokens from picker and matrix', () => {
    const x = testExplanation();
    const onUnit = vi.fn();
    const onTarget = vi.fn();
    const { rerender } = render(<ResultsView explanation={x} selectedUnit={null} onSelectUnit={onUnit} selectedTarget={null} onSelectTarget={onTarget} />);
    fireEvent.click(screen.getAllByTestId('unit')[3]!);
    expect(onUnit).toHaveBeenLastCalledWith(3);
    screen.getByTestId('top-units-chart').querySelector('g.atman-bar[data-unit="2"]')!.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(onUnit).toHaveBeenLastCalledWith(2);
    fireEvent.click(within(screen.getByTestId('target-picker')).getByText('mat'));
    expect(onTarget).toHaveBeenLastCalledWith(1);
    screen.getByTestId('target-matrix').querySelector('g.atman-row-label[data-target="0"]')!.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(onTarget).toHaveBeenLastCalledWith(0);

    // target token 1 selected: the heatmap, the chart and the details follow R[u, 1]
    rerender(<ResultsView explanation={x} selectedUnit={2} onSelectUnit={onUnit} selectedTarget={1} onSelectTarget={onTarget} />);
    expect(screen.getAllByTestId('unit').map((u) => Number(u.dataset.score))).toEqual(x.units.map((u) => u.perTarget[1]));
    expect(screen.getByTestId('unit-score').textContent).toBe('+1.386');
    expect(screen.getByTestId('legend').textContent).toContain('score for target token "mat"');
  });

  it('renders a real explanation from the engine', () => {
    const x = llama as unknown as Explanation;
    render(<ResultsView explanation={x} selectedUnit={2} onSelectUnit={noop} selectedTarget={null} onSelectTarget={noop} />);
    expect(screen.getAllByTestId('unit').length).toBe(x.units.length);
    expect(screen.getByTestId('target-matrix').querySelectorAll('rect.atman-cell').length).toBe(8 * x.units.length);
    expect(screen.getByTestId('unit-rank').textContent).toBe('1 of 18');
  });
});

describe('UnitDetails', () => {
  it('shows score, rank, R and P(target) before -> after suppressing the unit', () => {
    const x = testExplanation();
    render(<UnitDetails explanation={x} unit={2} />);
    const d = screen.getByTestId('unit-details');
    expect(d.textContent).toContain('cat');
    expect(screen.getByTestId('unit-score').textContent).toBe('+2.079');
    expect(screen.getByTestId('unit-rank').textContent).toBe('1 of 5');
    expect(screen.getAllByTestId('r').map((e) => e.textContent)).toEqual(['+0.6931', '+1.386']);
    expect(screen.getAllByTestId('p-before').map((e) => e.textContent)).toEqual(['50.0%', '25.0%']);
    expect(screen.getAllByTestId('p-after').map((e) => e.textContent)).toEqual(['25.0%', '6.25%']);
    expect(screen.getByTestId('unit-sequence-probability').textContent).toBe('12.5% → 1.56%');
  });

  it('lists the factors, marking what conceptual suppression dragged along', () => {
    render(<UnitDetails explanation={testExplanation()} unit={2} />);
    const items = within(screen.getByTestId('unit-factors')).getAllByRole('listitem');
    expect(items.length).toBe(2);
    expect(items[0]!.textContent).toContain('cat');
    expect(items[0]!.textContent).not.toContain('dragged along');
    expect(items[1]!.textContent).toContain('on');
    expect(items[1]!.textContent).toContain('0.37');
    expect(items[1]!.textContent).toContain('dragged along');
  });

  it('asks for a selection when none is made, and selects target tokens from its rows', () => {
    const onTarget = vi.fn();
    const { rerender } = render(<UnitDetails explanation={testExplanation()} unit={null} />);
    expect(screen.getByTestId('unit-details').textContent).toMatch(/Select a unit/);
    rerender(<UnitDetails explanation={testExplanation()} unit={1} targetIndex={0} onSelectTarget={onTarget} />);
    expect(screen.getAllByTestId('p-after')[0]!.textContent).toBe('100%');
    fireEvent.click(screen.getByRole('button', { name: 'mat' }));
    expect(onTarget).toHaveBeenCalledWith(1);
    fireEvent.click(screen.getByRole('button', { name: 'on' }));
    expect(onTarget).toHaveBeenLastCalledWith(null);
  });
});

describe('Legend', () => {
  it('labels min, 0 and max and says the sign in words', () => {
    render(<Legend maxAbs={2.5} />);
    expect(screen.getByTestId('legend-min').textContent).toBe('-2.50');
    expect(screen.getByTestId('legend-max').textContent).toBe('+2.50');
    const text = screen.getByTestId('legend').textContent!;
    expect(text).toContain('orange: evidence for the target (suppressing it makes the target less likely)');
    expect(text).toContain('blue: evidence against');
  });
});
