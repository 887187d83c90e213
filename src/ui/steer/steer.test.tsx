// @vitest-environment happy-dom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actions } from '../../state/actions';
import type { SteerRecord } from '../../state/slices/steer-slice';
import { createAppStore } from '../../state/slices/store';
import { AppContext } from '../app/app-context';
import { completeExplanation } from '../../testing/ui-explanation';
import { factorWords, pickableUnits } from './steer-pick';
import { SteerPanel } from './SteerPanel';
import { SteerRuns } from './SteerRuns';

afterEach(cleanup);

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

const record: SteerRecord = {
  prompt: 'The cat sat',
  mode: 'multiplicative',
  maxNewTokens: 3,
  units: [{ label: 'cat', factor: 0 }],
  steered: { text: ' on a', stop: 'max-new-tokens', tokens: [{ text: ' on', p: 0.5, other: 0.5 }, { text: ' a', p: 0.4, other: 0.1 }] },
  unsteered: { text: ' on the', stop: 'max-new-tokens', tokens: [{ text: ' on', p: 0.5, other: 0.5 }, { text: ' the', p: 0.8, other: 0.05 }] },
  seconds: 0.5,
};

describe('pickableUnits', () => {
  it('gives each prompt unit its character span, without special tokens, target units or edge spaces', () => {
    const x = completeExplanation();
    // BOS (special), "The", "cat", "sat"
    expect(pickableUnits(x.prompt, x)).toEqual([
      { unit: 1, span: [0, 3], label: 'The' },
      { unit: 2, span: [4, 7], label: 'cat' },
      { unit: 3, span: [8, 11], label: 'sat' },
    ]);
    const spaced = { ...x, tokens: x.tokens.map((t, i) => (i === 2 ? { ...t, start: 3 } : t)) };
    expect(pickableUnits(x.prompt, spaced)[1]).toEqual({ unit: 2, span: [4, 7], label: 'cat' });
    expect([0, 0.5, 1, 2].map(factorWords)).toEqual(['ignored', 'weakened', 'unchanged', 'amplified']);
  });
});

describe('SteerRuns', () => {
  it('shows both runs token by token with probabilities; differing steps are marked; hover words name the other run', () => {
    render(<SteerRuns steered={record.steered} unsteered={record.unsteered} />);
    const steered = screen.getByTestId('steer-run-steered');
    expect(steered.getAttribute('data-text')).toBe(' on a');
    const tokens = within(steered).getAllByTestId('steer-token');
    expect(tokens.map((t) => t.className.includes('atman-steer-differs'))).toEqual([false, true]);
    expect(tokens[1]!.textContent).toBe(' a40.0%');
    expect(tokens[1]!.getAttribute('title')).toBe('step 2: " a", p = 40.0% in this run; the unsteered run\'s token " the" gets 10.0% here');
    expect(within(screen.getByTestId('steer-run-unsteered')).getAllByTestId('steer-token')[1]!.getAttribute('title')).toContain('the steered run\'s token " a" gets 5.00% here');
  });
});

describe('SteerPanel', () => {
  it('picks parts by clicking, sets factors, generates, and shows the result', () => {
    const store = createAppStore(memory());
    const x = completeExplanation();
    store.setState({ explanation: x, prompt: x.prompt, target: x.target });
    const actions = { steerGenerate: vi.fn(async () => {}), cancel: vi.fn() } as unknown as Actions;
    const { rerender } = render(
      <AppContext.Provider value={{ store, actions }}>
        <SteerPanel />
      </AppContext.Provider>,
    );
    expect((screen.getByTestId('steer-generate') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getAllByTestId('steer-pick-unit')[1]!);
    expect(store.getState().steerUnits).toEqual([{ span: [4, 7], label: 'cat', factor: 0 }]);
    fireEvent.change(screen.getByTestId('steer-factor'), { target: { value: '2.5' } });
    expect(store.getState().steerUnits[0]!.factor).toBe(2.5);
    fireEvent.change(screen.getByTestId('steer-factor-number'), { target: { value: '1' } });
    expect(store.getState().steerUnits[0]!.factor).toBe(1);
    expect(screen.getByTestId('steer-unit').textContent).toContain('unchanged');
    // a typed piece must occur in the prompt
    fireEvent.change(screen.getByTestId('steer-text'), { target: { value: 'dog' } });
    expect((screen.getByTestId('steer-add-text') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByTestId('steer-text'), { target: { value: 'sat' } });
    fireEvent.click(screen.getByTestId('steer-add-text'));
    expect(store.getState().steerUnits[1]).toEqual({ text: 'sat', label: 'sat', factor: 0 });
    fireEvent.click(screen.getByTestId('steer-generate'));
    expect((actions as unknown as { steerGenerate: ReturnType<typeof vi.fn> }).steerGenerate).toHaveBeenCalled();
    store.setState({ steerResult: record });
    rerender(
      <AppContext.Provider value={{ store, actions }}>
        <SteerPanel />
      </AppContext.Provider>,
    );
    expect(screen.getByTestId('steer-run-unsteered').getAttribute('data-text')).toBe(' on the');
    expect(screen.queryByTestId('steer-stale')).toBeNull();
    // an edited prompt marks the result and the picked span
    fireEvent.click(screen.getAllByTestId('steer-pick-unit')[0]!);
    store.getState().setPrompt('A cat sat');
    rerender(
      <AppContext.Provider value={{ store, actions }}>
        <SteerPanel />
      </AppContext.Provider>,
    );
    expect(screen.getByTestId('steer-stale')).toBeTruthy();
    expect(screen.getAllByTestId('steer-unit')[0]!.textContent).toMatch(/no longer at that place/);
  });
});
