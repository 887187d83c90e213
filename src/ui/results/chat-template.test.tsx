// @vitest-environment happy-dom
// A chat model's explanation (the CLI's JSON on the instruct fixture, word units): the template's
// tokens show muted and outside every unit; the settings panel has the chat template toggle.
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Explanation } from '../../runtime/schema';
import type { Actions } from '../../state/actions';
import { createAppStore } from '../../state/slices/store';
import { AppContext } from '../app/app-context';
import { SettingsPanel } from '../app/SettingsPanel';
import instruct from './__fixtures__/tiny-llama-instruct-chat.json';
import { PromptHeatmap } from './PromptHeatmap';
import { pieces } from './text-pieces';

afterEach(cleanup);

const x = instruct as unknown as Explanation;
const templatePositions = x.tokens.flatMap((t, i) => (t.role === 'template' ? [i] : []));

describe('a chat template in the heatmap', () => {
  it('draws every template token as a muted chip outside the units, the message between them', () => {
    render(<PromptHeatmap explanation={x} />);
    const root = screen.getByTestId('prompt-heatmap');
    const muted = [...root.querySelectorAll<HTMLElement>('.atman-template')];
    expect(muted.map((el) => Number(el.dataset.pos))).toEqual(templatePositions);
    for (const el of muted) {
      expect(el.className).toContain('atman-chip');
      expect(el.closest('[data-unit]')).toBeNull();
      expect(el.getAttribute('title')).toMatch(/chat template/);
    }
    expect(screen.getAllByTestId('unit').map((u) => u.textContent)).toEqual(['The', ' capital', ' of', ' France', ' is']);
    // template prefix, the message as typed, the template up to the assistant header, the target
    const text = root.querySelector('p')!.textContent!;
    const prefix = muted.filter((el) => Number(el.dataset.pos) < x.tokens.findIndex((t) => t.role === 'prompt')).map((el) => el.textContent).join('');
    expect(prefix).toBe('<|im_start|>system⏎You are a helpful assistant.<|im_end|>⏎<|im_start|>user⏎');
    expect(text).toBe(`${prefix}${x.prompt}<|im_end|>⏎<|im_start|>assistant⏎${x.target}`);
  });

  it('keeps a trailing gap of the message before the template tokens after it', () => {
    // as from a template that trims the message: its trailing spaces are in no token
    const n = x.prompt.length + 2;
    const spaced = { ...x, prompt: `${x.prompt}  `, tokens: x.tokens.map((t) => (t.role === 'template' && t.start > 0 ? { ...t, start: n, end: n } : t)) };
    const ps = pieces(spaced, 'prompt');
    const gapAt = ps.findIndex((p) => p.kind === 'gap' && p.text === '  ');
    const firstSuffix = ps.findIndex((p) => p.kind === 'token' && p.template && p.pos > templatePositions[13]!);
    expect(gapAt).toBeGreaterThan(0);
    expect(gapAt).toBeLessThan(firstSuffix);
  });
});

describe('the chat template toggle', () => {
  it('exists with its explanation and sets the chat setting', () => {
    const m = new Map<string, string>();
    const store = createAppStore({ getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) });
    render(
      <AppContext.Provider value={{ store, actions: {} as Actions }}>
        <SettingsPanel />
      </AppContext.Provider>,
    );
    const box = screen.getByTestId('chat-template') as HTMLInputElement;
    expect(box.checked).toBe(true);
    expect(document.getElementById(box.getAttribute('aria-describedby')!)!.textContent).toMatch(/chat template.*user's message.*assistant's reply/);
    fireEvent.click(box);
    expect(store.getState().settings.chat).toBe(false);
    expect(box.checked).toBe(false);
  });
});
