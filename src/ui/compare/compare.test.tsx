// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actions } from '../../state/actions';
import { explanationKey } from '../../state/faithfulness-summary';
import { type AppStore, createAppStore } from '../../state/slices/store';
import { AppContext } from '../app/app-context';
import { completeExplanation } from '../../testing/ui-explanation';
import { parseColour } from '../results/score-view';
import { ComparePanel, parseIndexList } from './ComparePanel';

afterEach(cleanup);

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

function mount(store: AppStore, node: ReactNode) {
  const actions = { compare: vi.fn(async () => {}), measureFaithfulness: vi.fn(async () => {}), cancel: vi.fn() } as unknown as Actions;
  render(<AppContext.Provider value={{ store, actions }}>{node}</AppContext.Provider>);
  return actions as unknown as Record<'compare' | 'measureFaithfulness' | 'cancel', ReturnType<typeof vi.fn>>;
}

/** The same units scored by attention: small, never negative. */
const attentionOf = (x = completeExplanation()) => ({ ...x, method: 'attention' as const, sign: 'attention mass', units: x.units.map((u, i) => ({ ...u, score: [0.05, 0.1, 0.3, 0.02][i]! })) });

describe('ComparePanel', () => {
  it('shows both sides over the same units, labelled with their method and sign convention', () => {
    const store = createAppStore(memory());
    const x = completeExplanation();
    store.setState({ explanation: x, comparison: attentionOf(x), prompt: x.prompt, target: x.target });
    mount(store, <ComparePanel />);
    const left = screen.getByTestId('compare-side-primary');
    const right = screen.getByTestId('compare-side-comparison');
    expect(left.getAttribute('data-method')).toBe('atman');
    expect(right.getAttribute('data-method')).toBe('attention');
    expect(within(left).getByRole('heading').textContent).toContain('AtMan');
    expect(within(right).getByRole('heading').textContent).toContain('Raw attention');
    expect(screen.getByTestId('compare-sign-primary').textContent).toMatch(/cross-entropy.*positive \(orange\) = evidence/);
    expect(screen.getByTestId('compare-sign-comparison').textContent).toMatch(/attention mass.*not a change in cross-entropy/);
    expect(within(left).getAllByTestId('unit').length).toBe(within(right).getAllByTestId('unit').length);
    expect(screen.getByTestId('compare-panel').getAttribute('data-state')).toBe('done');
  });

  it('own scales normalise each side to its own max; the shared scale pales the smaller side', () => {
    const store = createAppStore(memory());
    const x = completeExplanation();
    store.setState({ explanation: x, comparison: attentionOf(x), prompt: x.prompt, target: x.target });
    mount(store, <ComparePanel />);
    const top = (side: string) => within(screen.getByTestId(`compare-side-${side}`)).getAllByTestId('unit').find((u) => u.getAttribute('data-rank') === '1')!;
    const strength = (el: HTMLElement) => {
      const [r, g, b] = parseColour(el.style.backgroundColor);
      return 765 - r - g - b;
    };
    const bars = () => screen.getAllByTestId('compare-scale-bar').map((b) => Number(b.getAttribute('data-max')));
    const own = strength(top('comparison'));
    expect(bars()).toEqual([3 * Math.LN2, 0.3]);
    // both top units are painted at full strength
    expect(Math.abs(strength(top('primary')) - own)).toBeLessThan(5);
    fireEvent.click(screen.getByTestId('compare-scale-shared'));
    expect(store.getState().compareScale).toBe('shared');
    expect(bars()).toEqual([3 * Math.LN2, 3 * Math.LN2]);
    expect(strength(top('comparison'))).toBeLessThan(own / 2);
  });

  it('runs Compare and Measure through the actions, and shows each side its own measurement', () => {
    const store = createAppStore(memory());
    const x = completeExplanation();
    const y = attentionOf(x);
    const f = { of: explanationKey(y), method: 'attention', unitCount: 4, ks: [0, 1, 2, 3, 4], p0: 0.1, deletion: [0.1, 0.05, 0.04, 0.03, 0.02], insertion: [0.02, 0.03, 0.05, 0.08, 0.1], aopc: 0.06, abpc: 0.006, deletionAuc: 0.048, insertionAuc: 0.056, random: null, randomAbpc: null, removalFactor: 0, mode: 'multiplicative', seconds: 1 };
    store.setState({ explanation: x, comparison: y, prompt: x.prompt, target: x.target, faithfulness: { primary: null, comparison: f as never } });
    const actions = mount(store, <ComparePanel />);
    fireEvent.change(screen.getByTestId('compare-method'), { target: { value: 'rollout' } });
    expect(store.getState().compareMethod).toBe('rollout');
    // attention options appear for the attention methods
    fireEvent.change(screen.getByTestId('compare-query'), { target: { value: 'last-prompt' } });
    fireEvent.change(screen.getByTestId('compare-heads'), { target: { value: '0, 1' } });
    expect(store.getState().compareAttention).toEqual({ layers: null, heads: [0, 1], query: 'last-prompt' });
    fireEvent.click(screen.getByTestId('compare'));
    expect(actions.compare).toHaveBeenCalled();
    expect(screen.queryByTestId('compare-faithfulness-primary-aopc')).toBeNull();
    expect(screen.getByTestId('compare-faithfulness-comparison-aopc').getAttribute('data-value')).toBe('0.06');
    fireEvent.click(screen.getByTestId('compare-faithfulness-primary-measure'));
    expect(actions.measureFaithfulness).toHaveBeenCalledWith('primary');
  });

  it("integrated gradients: a steps control in the number rule's range, and the side says its steps and completeness", () => {
    const store = createAppStore(memory());
    const x = completeExplanation();
    mount(store, <ComparePanel />);
    expect(screen.queryByTestId('compare-steps')).toBeNull();
    fireEvent.change(screen.getByTestId('compare-method'), { target: { value: 'integrated-gradients' } });
    const input = screen.getByTestId('compare-steps') as HTMLInputElement;
    expect(input.value).toBe('50');
    fireEvent.change(input, { target: { value: '8' } });
    expect(store.getState().compareSteps).toBe(8);
    expect(screen.getByTestId('compare-steps-help').textContent).toMatch(/a whole number from 1 to 1000.*8 backward passes per target token/);
    for (const bad of ['0', '1001', '2.5', '']) {
      fireEvent.change(input, { target: { value: bad } });
      expect(input.getAttribute('aria-invalid'), bad).toBe('true');
      expect(store.getState().compareSteps, bad).toBe(8);
      expect(screen.getByTestId('compare-steps-help').textContent, bad).toMatch(/integration steps must be a whole number from 1 to 1000.*Compare uses 8\./);
    }
    // a value set from outside (a link, a reload) shows in the box
    act(() => store.getState().setCompareSteps(12));
    expect(input.value).toBe('12');
    expect(input.getAttribute('aria-invalid')).toBe('false');

    const y = { ...x, method: 'integrated-gradients' as const, sign: 'gradient', run: { ...x.run, steps: 12, completeness: { attributed: 1.5, difference: 1.6, gap: -0.1, relativeGap: 0.0625 } } };
    act(() => store.setState({ explanation: x, comparison: y, prompt: x.prompt, target: x.target }));
    expect(screen.getByTestId('compare-steps-comparison').getAttribute('data-value')).toBe('12');
    expect(screen.getByTestId('compare-steps-comparison').textContent).toBe(', 12 integration steps');
    expect(screen.queryByTestId('compare-steps-primary')).toBeNull();
    expect(screen.getByTestId('compare-completeness-comparison').textContent).toBe('Scores sum to 1.500 against L(x) − L(0) = 1.600 (gap 6.3%)');
    expect(screen.getByTestId('compare-sign-comparison').textContent).toMatch(/path from zero embeddings.*positive \(orange\) = evidence/);
    // Chefer's relevance is never negative: its colour bar starts at 0
    act(() => store.setState({ comparison: { ...x, method: 'chefer', sign: 'chefer', units: x.units.map((u, i) => ({ ...u, score: [0, 0.2, 0.5, 0.1][i]! })) } }));
    const bar = within(screen.getByTestId('compare-side-comparison')).getByTestId('compare-scale-bar');
    expect(bar.textContent).toMatch(/^0/);
    expect(screen.queryByTestId('compare-completeness-comparison')).toBeNull();
  });

  it('says in words why a comparison failed or no longer fits', () => {
    const store = createAppStore(memory());
    const x = completeExplanation();
    store.setState({ explanation: x, prompt: x.prompt, target: x.target, compareError: { code: 'FUSED_ATTENTION_NO_PROBS', message: 'GroupQueryAttention keeps its probabilities inside.' } });
    mount(store, <ComparePanel />);
    const err = screen.getByTestId('compare-error');
    expect(err.getAttribute('data-error-code')).toBe('FUSED_ATTENTION_NO_PROBS');
    expect(err.textContent).toMatch(/failed: GroupQueryAttention.*occlusion \(unit deleted\) instead/);
    act(() => store.setState({ compareError: null, comparison: attentionOf(completeExplanation({ prompt: 'Another prompt' })) }));
    expect(screen.getByTestId('compare-stale').textContent).toMatch(/another prompt or target/);
    expect(screen.getByTestId('compare-panel').getAttribute('data-state')).toBe('stale');
  });
});

describe('parseIndexList', () => {
  it('reads "all" and lists, refuses the rest', () => {
    expect(parseIndexList('all', 4)).toBeNull();
    expect(parseIndexList(' ', 4)).toBeNull();
    expect(parseIndexList('2, 0 2', 4)).toEqual([0, 2]);
    expect(parseIndexList('4', 4)).toBeUndefined();
    expect(parseIndexList('1-2', null)).toBeUndefined();
  });
});
