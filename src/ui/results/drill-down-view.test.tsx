// @vitest-environment happy-dom
// Drill-down in the playground: the heatmap draws the refined units inside their parents, and the
// settings panel turns drill-down on (from sentences when the units had no finer level) and off.
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/types';
import type { Explanation } from '../../runtime/schema';
import type { Actions } from '../../state/actions';
import { createAppStore } from '../../state/slices/store';
import { AppContext } from '../app/app-context';
import { SettingsPanel } from '../app/SettingsPanel';
import { sampleExplanation } from '../../testing/sample-explanation';
import { PromptHeatmap } from './PromptHeatmap';
import { refinedPieces } from './drill-view';

afterEach(cleanup);

/** "The cat sat." as one sentence, refined into its words, and " cat" into its one token. */
function drilled(): Explanation {
  const x = sampleExplanation({ settings: { ...structuredClone(DEFAULT_SETTINGS), granularity: { kind: 'sentence' }, drillDown: { top: 1 } } });
  const [the, cat, sat] = x.units;
  return {
    ...x,
    units: [{ label: 'The cat sat.', positions: [0, 1, 2], score: 0.5, perTarget: [0.4, 0.1], factors: [], children: [the!, { ...cat!, children: [{ ...cat!, score: -0.25 }] }, sat!] }],
    drillDown: { top: 1, levels: ['sentence', 'word', 'token'], passesPerLevel: [2, 4, 2], fullPasses: 4 },
  };
}

describe('drill-down in the heatmap', () => {
  it('keeps the first level as the units and draws the finest scored unit inside each refined one', () => {
    const x = drilled();
    render(<PromptHeatmap explanation={x} />);
    const units = screen.getAllByTestId('unit');
    expect(units).toHaveLength(1);
    expect(Number(units[0]!.dataset.score)).toBe(0.5);
    const fine = screen.getAllByTestId('refined');
    expect(fine.map((el) => [el.textContent, el.dataset.level, Number(el.dataset.score)])).toEqual([
      ['The', 'word', 0.125],
      [' cat', 'token', -0.25],
      [' sat.', 'word', 1.2345678901234567],
    ]);
    for (const el of fine) expect(units[0]!.contains(el)).toBe(true);
    expect(fine[1]!.getAttribute('title')).toBe("token ' cat': score -0.250 (drill-down)");
    expect(fine[1]!.className).toContain('atman-refined-2');
    // orange for evidence, blue against, on the finer units' own scale
    expect(fine[2]!.style.backgroundColor).not.toBe(fine[1]!.style.backgroundColor);
  });

  it('per target token, shows that token\'s scores; nothing is refined without a drill-down', () => {
    const x = drilled();
    expect(refinedPieces(x, 1).get(0)).toEqual({ label: 'The', score: 0.025, level: 'word', depth: 1 });
    expect(refinedPieces(sampleExplanation(), null).size).toBe(0);
  });
});

describe('the drill-down setting', () => {
  it('turns on from sentences when the units had no finer level, takes a count, and goes off with token units', () => {
    const m = new Map<string, string>();
    const store = createAppStore({ getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) });
    render(
      <AppContext.Provider value={{ store, actions: {} as Actions }}>
        <SettingsPanel />
      </AppContext.Provider>,
    );
    expect(store.getState().settings.granularity).toEqual({ kind: 'token' });
    fireEvent.click(screen.getByTestId('drill-down'));
    expect(store.getState().settings).toMatchObject({ granularity: { kind: 'sentence' }, drillDown: { top: 2 } });
    fireEvent.change(screen.getByTestId('drill-top'), { target: { value: '4' } });
    expect(store.getState().settings.drillDown).toEqual({ top: 4 });
    fireEvent.change(screen.getByTestId('drill-top'), { target: { value: '0' } });
    expect(store.getState().settings.drillDown).toEqual({ top: 4 });
    fireEvent.change(screen.getByTestId('granularity'), { target: { value: 'word' } });
    expect(store.getState().settings.drillDown).toEqual({ top: 4 });
    fireEvent.change(screen.getByTestId('granularity'), { target: { value: 'token' } });
    expect(store.getState().settings.drillDown).toBeUndefined();
    expect((screen.getByTestId('drill-down') as HTMLInputElement).checked).toBe(false);
  });
});
