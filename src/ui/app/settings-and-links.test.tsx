// @vitest-environment happy-dom
// The settings' basic view, and share links that bring back what the sender saw: the steering
// panel open with its generation, the comparison with its scale and attention options, the
// faithfulness numbers (p(target) as a probability).
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/types';
import type { Actions } from '../../state/actions';
import { explanationKey, type FaithfulnessSummary } from '../../state/faithfulness-summary';
import { applyDecodedShare, buildShareLink } from '../../state/links/share-sync';
import { decodeShare } from '../../state/links/share-codec';
import type { SteerRecord } from '../../state/slices/steer-slice';
import { type AppStore, createAppStore } from '../../state/slices/store';
import { completeExplanation } from '../../testing/ui-explanation';
import { ComparePanel } from '../compare/ComparePanel';
import { FaithfulnessPanel } from '../faithfulness/FaithfulnessPanel';
import { SteerPanel } from '../steer/SteerPanel';
import { AppContext } from './app-context';
import { METHOD_PAGE, METHOD_SECTIONS } from './method-doc';
import { SettingsPanel } from './SettingsPanel';

afterEach(cleanup);

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

function mount(store: AppStore, node: ReactNode): void {
  const actions = { compare: vi.fn(), measureFaithfulness: vi.fn(), cancel: vi.fn(), steerGenerate: vi.fn(), explain: vi.fn() } as unknown as Actions;
  render(<AppContext.Provider value={{ store, actions }}>{node}</AppContext.Provider>);
}

describe('SettingsPanel', () => {
  it('opens at its basic view: units, factor and target up front, the rest folded under Advanced', () => {
    mount(createAppStore(memory()), <SettingsPanel />);
    const advanced = screen.getByTestId('settings-advanced') as HTMLDetailsElement;
    expect(advanced.tagName).toBe('DETAILS');
    expect(advanced.open).toBe(false);
    const basic = screen.getByTestId('settings-basic');
    for (const id of ['granularity', 'factor', 'target-granularity']) {
      expect(within(basic).getByTestId(id)).toBeTruthy();
      expect(advanced.contains(screen.getByTestId(id))).toBe(false);
    }
    for (const id of ['chat-template', 'mode-select', 'conceptual', 'kappa', 'postprocess', 'token-overlap', 'prefix-reuse', 'score-head', 'coupled-dequantized']) {
      expect(advanced.contains(screen.getByTestId(id)), id).toBe(true);
    }
  });

  it('gives every setting one line of help and a link to its part of the method page', () => {
    const { container } = render(
      <AppContext.Provider value={{ store: createAppStore(memory()), actions: {} as Actions }}>
        <SettingsPanel />
      </AppContext.Provider>,
    );
    const helps = [...container.querySelectorAll<HTMLElement>('.setting > .help')].filter((h) => h.id !== 'h-preset-docqa');
    expect(helps.length).toBeGreaterThanOrEqual(10);
    const anchors = new Set<string>(Object.values(METHOD_SECTIONS));
    for (const h of helps) {
      // one line: a sentence or two, not a paragraph
      expect(h.textContent!.length, h.id).toBeLessThan(170);
      expect(h.textContent![0], h.id).toMatch(/[A-Z0-9]/);
      const a = h.querySelector('a')!;
      expect(a, h.id).not.toBeNull();
      const [page, anchor] = a.getAttribute('href')!.split('#');
      expect(page).toBe(METHOD_PAGE);
      expect(anchors.has(anchor!), `${h.id} -> ${anchor}`).toBe(true);
      expect(a.getAttribute('target')).toBe('_blank');
    }
  });

  it('says in the folded summary which advanced settings differ from their defaults', () => {
    const store = createAppStore(memory());
    mount(store, <SettingsPanel />);
    expect(screen.queryByTestId('settings-advanced-changed')).toBeNull();
    act(() => store.getState().updateSettings({ kappa: null, mode: 'log-additive' }));
    expect(screen.getByTestId('settings-advanced-changed').textContent).toBe(': log-additive, conceptual suppression off');
    // still folded: a change made elsewhere (a link, the preset) does not unfold it
    expect((screen.getByTestId('settings-advanced') as HTMLDetailsElement).open).toBe(false);
    act(() => store.getState().updateSettings({ ...DEFAULT_SETTINGS }));
    expect(screen.queryByTestId('settings-advanced-changed')).toBeNull();
  });
});

// ---------------------------------------------------------------- links

const x = completeExplanation();
const occlusion = { ...x, method: 'occlusion-delete' as const, sign: 'occlusion', units: x.units.map((u, i) => ({ ...u, score: [0.4, -0.1, 1.2, 0.3][i] ?? 0 })) };

const steerRecord: SteerRecord = {
  prompt: x.prompt,
  mode: 'multiplicative',
  maxNewTokens: 2,
  units: [{ label: 'cat', factor: 0 }],
  steered: { text: ' on a', stop: 'max-new-tokens', tokens: [{ text: ' on', p: 0.5, other: 0.5 }, { text: ' a', p: 0.4, other: 0.1 }] },
  unsteered: { text: ' on the', stop: 'max-new-tokens', tokens: [{ text: ' on', p: 0.5, other: 0.5 }, { text: ' the', p: 0.8, other: 0.05 }] },
  seconds: 0.5,
};

const faith = (of: string): FaithfulnessSummary => ({
  of,
  method: 'atman',
  unitCount: 4,
  ks: [0, 1, 2],
  p0: 0.8125,
  deletion: [0.8125, 0.5, 0.25],
  insertion: [0.1, 0.5, 0.8125],
  aopc: 0.335,
  abpc: 0.1875,
  deletionAuc: 0.165,
  insertionAuc: 0.315,
  random: null,
  randomAbpc: null,
  removalFactor: 0,
  mode: 'multiplicative',
  seconds: 1,
});

/** The sender's page: a result, a comparison shown on one scale with attention options, a measurement, a steered generation. */
function senderStore(): AppStore {
  const s = createAppStore(memory());
  s.setState({
    prompt: x.prompt,
    target: x.target,
    settings: structuredClone(x.settings),
    explanation: x,
    explanationModelKey: 'bundled:atman-demo-facts',
    comparison: occlusion,
    compareMethod: 'occlusion-delete',
    compareScale: 'shared',
    compareAttention: { query: 'last-prompt', layers: [0, 1], heads: null },
    faithfulness: { primary: faith(explanationKey(x)), comparison: null },
    steerUnits: [{ span: [4, 7], label: 'cat', factor: 0 }],
    steerMaxNewTokens: 2,
    steerResult: steerRecord,
  });
  return s;
}

describe('a share link brings back what it shows', () => {
  it('steering open with its generation, the comparison on its scale with its attention options, the faithfulness numbers', async () => {
    const link = await buildShareLink(senderStore().getState(), true);
    expect(link.scores).toBe('all');
    const hash = new URL(link.url).hash;
    expect(hash).toMatch(/&cscale=shared/);
    expect(decodeURIComponent(hash)).toMatch(/&catt=last-prompt;0,1;all/);

    // The receiver's page renders first; the link is applied after (as startApp does).
    const receiver = createAppStore(memory());
    mount(
      receiver,
      <>
        <FaithfulnessPanel />
        <ComparePanel />
        <SteerPanel />
      </>,
    );
    expect((screen.getByTestId('steer-panel') as HTMLDetailsElement).open).toBe(false);
    const decoded = await decodeShare(hash, {});
    expect(decoded.problems).toEqual([]);
    act(() => applyDecodedShare(receiver, decoded));

    expect((screen.getByTestId('steer-panel') as HTMLDetailsElement).open).toBe(true);
    expect(screen.getByTestId('steer-run-steered').getAttribute('data-text')).toBe(' on a');
    expect(screen.getByTestId('steer-units')).toBeTruthy();
    expect((screen.getByTestId('compare-scale-shared') as HTMLInputElement).checked).toBe(true);
    expect(screen.getByTestId('compare-side-comparison').getAttribute('data-method')).toBe('occlusion-delete');
    expect(receiver.getState().compareAttention).toEqual({ query: 'last-prompt', layers: [0, 1], heads: null });
    expect(screen.getByTestId('faithfulness-primary-aopc').textContent).toBe('+0.335');
    // a probability, not a signed difference
    expect(screen.getByTestId('faithfulness-primary-p0').textContent).toBe('0.813');

    // closing the panel by hand keeps it closed
    const panel = screen.getByTestId('steer-panel') as HTMLDetailsElement;
    act(() => {
      panel.open = false;
      fireEvent(panel, new Event('toggle'));
    });
    expect(panel.open).toBe(false);
  });

  it('leaves the view fields out without a comparison, and refuses bad ones in words', async () => {
    const s = senderStore();
    s.setState({ comparison: null });
    const hash = new URL((await buildShareLink(s.getState(), true)).url).hash;
    expect(hash).not.toMatch(/cscale|catt/);
    const withComparison = new URL((await buildShareLink(senderStore().getState(), true)).url).hash;
    const bad = await decodeShare(withComparison.replace(/cscale=shared/, 'cscale=sideways').replace(/catt=[^&]*/, 'catt=last-prompt%3B0%2Cx%3Ball'), {});
    expect(bad.state.compareView).toEqual({ scale: 'own', attention: { query: 'target-mean', layers: null, heads: null } });
    expect(bad.problems.join(' ')).toMatch(/colour scale.*neither/);
    expect(bad.problems.join(' ')).toMatch(/attention options.*unreadable/);
  });
});
