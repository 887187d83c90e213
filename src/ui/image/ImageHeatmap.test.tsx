// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Explanation } from '../../runtime/schema';
import type { Actions } from '../../state/actions';
import { createAppStore } from '../../state/slices/store';
import { AppContext } from '../app/app-context';
import { ResultsView } from '../results/ResultsView';
import { formatScore } from '../results/score-view';
import idefics from './__fixtures__/tiny-idefics3.json';
import vit from './__fixtures__/tiny-vit-gpt2.json';

afterEach(cleanup);

const X = idefics as unknown as Explanation;
const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

function Host({ x, onTarget }: { x: Explanation; onTarget?: (t: number | null) => void }) {
  const [unit, setUnit] = useState<number | null>(null);
  const [target, setTarget] = useState<number | null>(null);
  return (
    <ResultsView
      explanation={x}
      selectedUnit={unit}
      onSelectUnit={setUnit}
      selectedTarget={target}
      onSelectTarget={(t) => {
        setTarget(t);
        onTarget?.(t);
      }}
    />
  );
}

const cells = () => screen.getAllByTestId('image-cell');

describe('ImageHeatmap in the results view', () => {
  it('draws the tiles over the picture, one image chip in the text, and a legend on the text scale', () => {
    render(<Host x={X} />);
    expect(screen.getByTestId('image-heatmap').getAttribute('data-frames')).toBe('tiles');
    expect(cells().length).toBe(16);
    expect(screen.getAllByTestId('image-chip').length).toBe(1);
    expect(screen.getByTestId('image-chip').textContent).toBe(`image · ${X.image!.tokens.length} tokens`);
    // no picture outside the app: a grey box, and the scores all the same
    expect(screen.getByTestId('image-missing')).toBeTruthy();
    expect(screen.getByTestId('image-legend-max').textContent).toBe(screen.getByTestId('legend-max').textContent);
  });

  it('hover shows label, score and rank; keyboard focus does too; click selects the unit', () => {
    render(<Host x={X} />);
    const g = cells()[3]!;
    const u = Number(g.getAttribute('data-unit'));
    fireEvent.mouseEnter(g);
    const tip = screen.getByTestId('image-tooltip');
    expect(tip.textContent).toContain(X.units[u]!.label);
    expect(within(tip).getByTestId('image-tooltip-score').textContent).toBe(formatScore(X.units[u]!.score, 4));
    expect(tip.textContent).toContain(`rank ${g.getAttribute('data-rank')} of ${X.units.length} units`);
    fireEvent.mouseLeave(g);
    expect(screen.queryByTestId('image-tooltip')).toBeNull();
    act(() => g.dispatchEvent(new FocusEvent('focus')));
    expect(screen.getByTestId('image-tooltip').textContent).toContain(X.units[u]!.label);
    act(() => g.dispatchEvent(new MouseEvent('click', { bubbles: true })));
    expect(cells()[3]!.getAttribute('aria-pressed')).toBe('true');
    // the selected unit is the one the details panel explains
    expect(screen.getByTestId('unit-details').textContent).toContain(X.units[u]!.label);
  });

  it('frames: the global frame instead of the tiles; opacity slider', () => {
    render(<Host x={X} />);
    fireEvent.click(within(screen.getByTestId('image-frames')).getByLabelText(/global/));
    expect(screen.getByTestId('image-heatmap').getAttribute('data-frames')).toBe('global');
    expect(cells().map((g) => X.units[Number(g.getAttribute('data-unit'))]!.label)).toEqual(['global (1,1)', 'global (1,2)', 'global (2,1)', 'global (2,2)']);
    fireEvent.change(screen.getByTestId('image-opacity'), { target: { value: '0.3' } });
    expect(cells()[0]!.querySelector('rect')!.getAttribute('fill-opacity')).toBe('0.3');
  });

  it('a target token: the picture shows R[u, t] for that token', () => {
    const onTarget = vi.fn();
    render(<Host x={X} onTarget={onTarget} />);
    fireEvent.change(screen.getByTestId('image-target'), { target: { value: '1' } });
    expect(onTarget).toHaveBeenCalledWith(1);
    for (const g of cells()) expect(Number(g.getAttribute('data-score'))).toBe(X.units[Number(g.getAttribute('data-unit'))]!.perTarget[1]);
  });

  it('a captioner: patches drawn, the CLS token listed as a whole-picture token, no chip', () => {
    render(<Host x={vit as unknown as Explanation} />);
    expect(cells().length).toBe(16);
    expect(screen.queryByTestId('image-frames')).toBeNull();
    expect(screen.getAllByTestId('image-whole-token').map((b) => b.textContent)).toEqual([expect.stringMatching(/^cls [+-]/)]);
    expect(screen.queryByTestId('image-chip')).toBeNull();
  });
});

describe('ImageHeatmap in the app', () => {
  function mount(x: Explanation) {
    const store = createAppStore(memory());
    const blob = new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], { type: 'image/png' });
    store.setState({
      image: { blob, name: 'p.png', width: 50, height: 30, origin: 'file', key: 'k1', linkCopy: null, saved: null },
      explanation: x,
      explanationImageKey: 'k1',
    });
    const explain = vi.fn(async () => {
      // the engine answers with a result holding the drawn region as its own unit
      const regions = store.getState().imageRegions;
      expect(regions.length).toBe(1);
      store.setState({ explanation: x, selectedUnit: null });
    });
    const actions = { explain } as unknown as Actions;
    const Connected = () => {
      const [, force] = useState(0);
      return (
        <AppContext.Provider value={{ store, actions }}>
          <ResultsView
            explanation={store.getState().explanation!}
            selectedUnit={store.getState().selectedUnit}
            onSelectUnit={(u) => {
              store.getState().selectUnit(u);
              force((n) => n + 1);
            }}
            selectedTarget={null}
            onSelectTarget={() => {}}
          />
        </AppContext.Provider>
      );
    };
    render(<Connected />);
    return { store, explain };
  }

  it('shows the chosen picture under the scores, keeps view settings in the store, and explains a drawn region', async () => {
    const { store, explain } = mount(X);
    expect(screen.getByTestId('image-under-overlay').style.filter).toBe('');
    fireEvent.click(screen.getByTestId('image-grey'));
    expect(screen.getByTestId('image-under-overlay').style.filter).toBe('grayscale(1)');
    fireEvent.change(screen.getByTestId('image-opacity'), { target: { value: '0.4' } });
    expect(store.getState().imageView.opacity).toBe(0.4);

    fireEvent.click(screen.getByTestId('image-draw'));
    const svg = screen.getByTestId('image-overlay');
    const stage = screen.getByTestId('image-stage');
    const w = Number.parseFloat(stage.style.width);
    const h = Number.parseFloat(stage.style.height);
    // happy-dom does no layout: the svg's client rect is 0 x 0, so pointer positions are taken as display pixels
    vi.spyOn(svg, 'getBoundingClientRect').mockReturnValue({ left: 0, top: 0, width: w, height: h, right: w, bottom: h, x: 0, y: 0, toJSON: () => ({}) });
    fireEvent.pointerDown(svg, { clientX: w * 0.6, clientY: h * 0.2, pointerId: 1 });
    fireEvent.pointerMove(svg, { clientX: w * 0.9, clientY: h * 0.8, pointerId: 1 });
    fireEvent.pointerUp(svg, { clientX: w * 0.9, clientY: h * 0.8, pointerId: 1 });
    const brush = store.getState().brush!;
    expect(brush.left).toBeCloseTo(30);
    expect(brush.top).toBeCloseTo(6);
    expect(brush.width).toBeCloseTo(15);
    expect(brush.height).toBeCloseTo(18);
    expect(screen.getByTestId('image-brush-info').textContent).toContain('15 × 18 px at (30, 6)');

    await act(async () => {
      fireEvent.click(screen.getByTestId('explain-region'));
    });
    expect(explain).toHaveBeenCalledTimes(1);
    expect(store.getState().brush).toBeNull();
    // the drawn region's unit is selected (highlighted in the picture, the chart and the details)
    const drawn = X.units.findIndex((u) => u.label === 'drawn region 1');
    expect(store.getState().selectedUnit).toBe(drawn);
  });

  it('a result computed on another picture is drawn on a grey box, with a note', () => {
    const { store } = mount(X);
    act(() => store.setState({ image: { ...store.getState().image!, key: 'other' } }));
    expect(screen.getByTestId('image-missing').textContent).toMatch(/picture changed/);
  });
});
