// The texts, the settings, and the run: its progress, its result and its error. A failed,
// cancelled or crashed run only ever sets `error`; prompt, settings and the last result stay.
import type { StateCreator } from 'zustand';
import { DEFAULT_SETTINGS, type ExplainSettings } from '../../core/types';
import type { Explanation, UnitPlan } from '../../protocol/engine-api';
import type { AppState } from './app-state';
import type { RunStatus, RunError, Generation, RunSlice } from './app-state';
export type { RunStatus, RunError, Generation, RunSlice } from './app-state';

export const createRunSlice: StateCreator<AppState, [], [], RunSlice> = (set, get) => ({
  prompt: '',
  target: '',
  settings: structuredClone(DEFAULT_SETTINGS),
  speed: { prefixReuse: true, scoreHead: true, coupledNumerics: 'exact' },
  setSpeed: (patch) => set({ speed: { ...get().speed, ...patch } }),
  generateCount: 8,
  generation: null,
  status: 'idle',
  starting: false,
  finishedRuns: 0,
  progress: null,
  startedAt: null,
  explanation: null,
  explanationModelKey: null,
  explanationFromLink: false,
  error: null,
  notices: [],
  plan: null,

  setPrompt: (prompt) => set({ prompt, generation: null }),
  setTarget: (target) => set({ target }),
  updateSettings: (patch) => set({ settings: { ...get().settings, ...patch } }),
  setGenerateCount: (n) => set({ generateCount: Math.max(1, Math.min(200, Math.round(n) || 1)) }),
  selectGenerated(first, last) {
    const g = get().generation;
    if (!g || g.tokens.length === 0) return;
    const clamp = (i: number) => Math.max(0, Math.min(g.tokens.length - 1, i));
    const [a, b] = [clamp(Math.min(first, last)), clamp(Math.max(first, last))];
    // Tokens before the span become part of the prompt: the target is always what follows it.
    const prefix = g.text.slice(0, g.tokens[a]!.start);
    const target = g.text.slice(g.tokens[a]!.start, g.tokens[b]!.end);
    set({ generation: { ...g, selection: [a, b] }, prompt: g.base + prefix, target });
  },
  setError: (error) => set({ error }),
  dismissNotices: () => set({ notices: [] }),
});
