// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Actions } from '../../state/actions';
import { LIMITS } from '../../state/sanitize';
import { createAppStore } from '../../state/slices/store';
import type { ModelInfo } from '../../protocol/engine-api';
import { AppContext } from './app-context';
import { PromptBox } from './PromptBox';

afterEach(cleanup);

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

function mount() {
  const store = createAppStore(memory());
  store.setState({ prompt: 'The cat' });
  render(
    <AppContext.Provider value={{ store, actions: {} as Actions }}>
      <PromptBox />
    </AppContext.Provider>,
  );
  return { store, box: screen.getByTestId('prompt') as HTMLTextAreaElement };
}

describe('PromptBox', () => {
  it('says how many of the model context tokens the prompt and target take', () => {
    const { store } = mount();
    expect(screen.getByTestId('prompt-length').textContent).toBe(`7 of ${LIMITS.prompt.toLocaleString('en')} characters.`);
    act(() => store.setState({ loaded: { key: 'k', info: { maxPositions: 128 } as ModelInfo } }));
    expect(screen.getByTestId('prompt-length').textContent).toBe(`7 of ${LIMITS.prompt.toLocaleString('en')} characters; the model reads up to 128 tokens.`);
    const tokens = Array.from({ length: 5 }, (_, i) => ({ id: i, text: 'x', start: 0, end: 1, role: i < 3 ? ('prompt' as const) : ('target' as const) }));
    act(() => store.setState({ plan: { tokens, units: [], settings: store.getState().settings } }));
    expect(screen.getByTestId('prompt-length').textContent).toBe("4 of the model's 128 tokens (prompt and target).");
  });

  it('stops a paste beyond the character bound with a message, and lets a short one through', () => {
    const { store, box } = mount();
    act(() => store.setState({ loaded: { key: 'k', info: { maxPositions: 128 } as ModelInfo } }));
    const big = 'word '.repeat(100_000);
    const refused = !fireEvent.paste(box, { clipboardData: { getData: () => big } });
    expect(refused).toBe(true);
    expect(screen.getByTestId('prompt-paste-refused').textContent).toBe(
      `Not pasted: that would make the prompt 500,007 characters long, and the prompt box takes at most ${LIMITS.prompt.toLocaleString('en')} (this model reads at most 128 tokens). Paste a shorter part.`,
    );
    expect(store.getState().prompt).toBe('The cat');
    expect(fireEvent.paste(box, { clipboardData: { getData: () => ' sat.' } })).toBe(true);
    expect(screen.queryByTestId('prompt-paste-refused')).toBeNull();
    expect(box.maxLength).toBe(LIMITS.prompt);
  });
});
