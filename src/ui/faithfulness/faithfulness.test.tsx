// @vitest-environment happy-dom
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FaithfulnessSummary } from '../../state/faithfulness-summary';
import { exportJson } from '../results/export-view';
import { completeExplanation } from '../../testing/ui-explanation';
import { FaithfulnessBlock } from './FaithfulnessBlock';
import { createFaithfulnessChart, DELETION_COLOUR, INSERTION_COLOUR } from './faithfulness-chart';

afterEach(cleanup);

const data = {
  ks: [0, 1, 2, 4],
  unitCount: 4,
  deletion: [0.5, 0.1, 0.05, 0.01],
  insertion: [0.01, 0.3, 0.45, 0.5],
  random: { deletion: [0.5, 0.35, 0.2, 0.01], insertion: [0.01, 0.15, 0.3, 0.5] },
  title: 'AtMan ranking',
};

const summary = (over: Partial<FaithfulnessSummary> = {}): FaithfulnessSummary => ({
  of: 'k',
  method: 'atman',
  unitCount: 4,
  ks: data.ks,
  p0: 0.5,
  deletion: data.deletion,
  insertion: data.insertion,
  aopc: 0.335,
  abpc: 0.1875,
  deletionAuc: 0.165,
  insertionAuc: 0.315,
  random: { ...data.random, aopc: 0.235, abpc: -0.0125, runs: 3 },
  randomAbpc: -0.0125,
  removalFactor: 0,
  mode: 'multiplicative',
  seconds: 1,
  ...over,
});

describe('createFaithfulnessChart', () => {
  it('draws deletion and insertion solid, the random floor dashed, at the right heights; updates and cleans up', () => {
    const host = document.createElement('div');
    document.body.append(host);
    const chart = createFaithfulnessChart(host, { width: 500, height: 300 });
    chart.update(data);
    const svg = host.querySelector('svg')!;
    expect(svg.getAttribute('role')).toBe('img');
    expect(svg.getAttribute('aria-label')).toBe(
      'Faithfulness curves over 4 units: deletion from 50.0% at k = 0 to 1.00% at k = 4; insertion from 1.00% at k = 0 to 50.0% at k = 4; dashed: the same for random rankings.',
    );
    const path = (key: string) => svg.querySelector(`path.atman-faith-${key}`)!;
    expect(path('deletion').getAttribute('stroke')).toBe(DELETION_COLOUR);
    expect(path('insertion').getAttribute('stroke')).toBe(INSERTION_COLOUR);
    expect(path('deletion').getAttribute('stroke-dasharray')).toBeNull();
    expect(path('random-deletion').getAttribute('stroke-dasharray')).toBe('7 5');
    expect(path('random-insertion').getAttribute('stroke-dasharray')).toBe('7 5');
    expect(path('insertion').getAttribute('data-points')).toBe('0.01000 0.3000 0.4500 0.5000');
    // Points: x follows k (uneven spacing), y falls as the probability rises.
    const circles = [...svg.querySelectorAll('g.atman-faith-points')[0]!.querySelectorAll('circle')];
    expect(circles.length).toBe(4);
    const cx = circles.map((c) => Number(c.getAttribute('cx')));
    const cy = circles.map((c) => Number(c.getAttribute('cy')));
    expect(cx[3]! - cx[2]!).toBeCloseTo(2 * (cx[2]! - cx[1]!), 6);
    expect(cy[0]).toBeLessThan(cy[1]!);
    expect(circles[1]!.querySelector('title')!.textContent).toBe('deletion, k = 1: 10.0%');
    expect([...svg.querySelectorAll('g.atman-faith-key text')].map((t) => t.textContent)).toEqual(['deletion', 'insertion', 'random deletion', 'random insertion']);
    expect(svg.querySelector('text.atman-faith-title')!.textContent).toBe('AtMan ranking');

    chart.update({ ...data, random: null });
    expect(svg.querySelectorAll('path.atman-faith-curve').length).toBe(2);
    expect(svg.getAttribute('aria-label')).not.toContain('random');

    chart.destroy();
    expect(host.childNodes.length).toBe(0);
    host.remove();
  });

  it('draws into a given <svg> and restores it on destroy', () => {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'mine');
    document.body.append(svg);
    const chart = createFaithfulnessChart(svg);
    chart.update(data);
    expect(svg.querySelectorAll('path.atman-faith-curve').length).toBe(4);
    chart.destroy();
    expect(svg.childNodes.length).toBe(0);
    expect(svg.getAttribute('class')).toBe('mine');
    expect(svg.getAttribute('viewBox')).toBeNull();
    svg.remove();
  });
});

describe('FaithfulnessBlock', () => {
  it('shows AOPC, ABPC and the random floor with a verdict and the curves', () => {
    const onMeasure = vi.fn();
    render(<FaithfulnessBlock summary={summary()} canMeasure busy={false} running={false} onMeasure={onMeasure} testId="f" />);
    expect(screen.getByTestId('f-aopc').textContent).toBe('+0.335');
    expect(Number(screen.getByTestId('f-abpc').getAttribute('data-value'))).toBe(0.1875);
    expect(screen.getByTestId('f-random-abpc').textContent).toBe('-0.013');
    expect(screen.getByTestId('f-verdict').textContent).toMatch(/0\.200 above the random floor/);
    expect(screen.getByTestId('f-chart').querySelectorAll('path.atman-faith-curve').length).toBe(4);
    fireEvent.click(screen.getByTestId('f-measure'));
    expect(onMeasure).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId('f-measure').textContent).toBe('Measure again');
  });

  it('says so when the ranking is no better than chance; busy disables, running offers Cancel', () => {
    const onCancel = vi.fn();
    const { rerender } = render(<FaithfulnessBlock summary={summary({ abpc: -0.1 })} canMeasure busy running={false} onMeasure={() => {}} testId="f" />);
    expect(screen.getByTestId('f-verdict').textContent).toMatch(/not above the random floor/);
    expect((screen.getByTestId('f-measure') as HTMLButtonElement).disabled).toBe(true);
    rerender(<FaithfulnessBlock summary={null} canMeasure busy running onMeasure={() => {}} onCancel={onCancel} testId="f" />);
    expect(screen.getByTestId('f').getAttribute('data-state')).toBe('running');
    expect(screen.queryByTestId('f-aopc')).toBeNull();
    fireEvent.click(screen.getByTestId('f-cancel'));
    expect(onCancel).toHaveBeenCalled();
  });
});

describe('exportJson with faithfulness', () => {
  it('adds the measurement under `faithfulness`, and nothing without one', async () => {
    const x = completeExplanation();
    const withF = JSON.parse(await exportJson(x, summary()).text());
    expect(withF.faithfulness.aopc).toBe(0.335);
    expect(withF.faithfulness.random.runs).toBe(3);
    expect({ ...withF, faithfulness: undefined }).toEqual({ ...JSON.parse(JSON.stringify(x)), faithfulness: undefined });
    expect(JSON.parse(await exportJson(x, null).text())).not.toHaveProperty('faithfulness');
  });
});
