// The texts, the settings, and the run: its progress, its result and its error. A failed,
// cancelled or crashed run only ever sets `error`; prompt, settings and the last result stay.
import type { StateCreator } from 'zustand';
import { DEFAULT_SETTINGS, type ExplainSettings } from '../core/types';
import type { Explanation, UnitPlan } from '../protocol/engine-api';
import type { AppState } from './store';

export type RunStatus = 'idle' | 'loading' | 'explaining' | 'generating' | 'cancelling';

export interface RunError {
  code: string;
  message: string;
}

export interface Generation {
  /** the prompt the tokens continue */
  base: string;
  text: string;
  /** token spans in `text` */
  tokens: Array<{ text: string; start: number; end: number }>;
  /** selected chips [first, last], inclusive */
  selection: [number, number];
}

export interface RunSlice {
  prompt: string;
  target: string;
  settings: ExplainSettings;
  /** the engine's savings, on by default; off only to compare (not saved) */
  /** coupledNumerics: how 8-bit models whose rows are coupled run (exact, or the faster dequantized variant) */
  speed: { prefixReuse: boolean; scoreHead: boolean; coupledNumerics: 'exact' | 'dequantized' };
  setSpeed(patch: Partial<RunSlice['speed']>): void;
  generateCount: number;
  generation: Generation | null;
  status: RunStatus;
  /** runs (load, explain, generate) finished so far, failed ones included: lets tests wait for "this run is over" */
  finishedRuns: number;
  progress: { done: number; total: number; elapsedSeconds: number } | null;
  startedAt: number | null;
  explanation: Explanation | null;
  /** the model choice the explanation was computed with (modelKey) */
  explanationModelKey: string | null;
  /** a shared link's result, shown without recomputing */
  explanationFromLink: boolean;
  error: RunError | null;
  /** what a shared link or saved state could not restore, in words */
  notices: string[];
  plan: UnitPlan | null;

  setPrompt(p: string): void;
  setTarget(t: string): void;
  updateSettings(patch: Partial<ExplainSettings>): void;
  setGenerateCount(n: number): void;
  selectGenerated(first: number, last: number): void;
  setError(e: RunError | null): void;
  dismissNotices(): void;
}

export const createRunSlice: StateCreator<AppState, [], [], RunSlice> = (set, get) => ({
  prompt: '',
  target: '',
  settings: structuredClone(DEFAULT_SETTINGS),
  speed: { prefixReuse: true, scoreHead: true, coupledNumerics: 'exact' },
  setSpeed: (patch) => set({ speed: { ...get().speed, ...patch } }),
  generateCount: 8,
  generation: null,
  status: 'idle',
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
