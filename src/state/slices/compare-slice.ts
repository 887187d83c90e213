// A second method next to AtMan over the same units, and the faithfulness curves of either side.
// The comparison and the measurements are kept like the last result: a failed or cancelled run
// only sets `error` (and `compareError` for the compare panel), nothing already shown is lost.
import type { StateCreator } from 'zustand';
import { DEFAULT_IG_STEPS } from '../../core/gradient-attribution';
import { NUMBER_RULES, numberProblem } from '../../core/numbers';
import type { AttentionOptions, EngineApi, Explanation, ExplanationMethod, ExplainProgress, FaithfulnessReport } from '../../protocol/engine-api';
import { explanationKey, type FaithfulnessSummary, sanitizeFaithfulness, summarizeFaithfulness } from '../faithfulness-summary';
import { imageRequest } from './image-slice';
import type { RunError } from './run-slice';
import { LIMITS, type Problems, sanitizeExplanation } from '../sanitize';
import { sameSettings } from '../settings-compare';
import type { AppState, AppStore } from './app-state';
import type { CompareMethod, AttentionQuery, AttentionChoice, CompareScale, AnalysisTask, FaithfulnessSide, CompareSlice } from './app-state';
export type { CompareMethod, AttentionQuery, AttentionChoice, CompareScale, AnalysisTask, FaithfulnessSide, CompareSlice } from './app-state';

export const COMPARE_METHODS: readonly CompareMethod[] = ['occlusion-delete', 'occlusion-mask', 'attention', 'rollout', 'input-x-gradient', 'integrated-gradients', 'chefer'];

export const DEFAULT_ATTENTION: AttentionChoice = { layers: null, heads: null, query: 'target-mean' };

export const createCompareSlice: StateCreator<AppState, [], [], CompareSlice> = (set, get) => ({
  compareMethod: 'occlusion-delete',
  compareAttention: { ...DEFAULT_ATTENTION },
  compareScale: 'own',
  compareSteps: DEFAULT_IG_STEPS,
  comparison: null,
  compareError: null,
  faithfulness: { primary: null, comparison: null },
  task: null,
  taskSide: null,
  setCompareMethod: (compareMethod) => set({ compareMethod }),
  setCompareAttention: (patch) => set({ compareAttention: { ...get().compareAttention, ...patch } }),
  setCompareScale: (compareScale) => set({ compareScale }),
  setCompareSteps: (n) => {
    if (numberProblem(n, NUMBER_RULES.steps) === null) set({ compareSteps: n });
  },
  clearComparison: () => set({ comparison: null, compareError: null, faithfulness: { ...get().faithfulness, comparison: null } }),
});

export const isAttentionMethod = (m: ExplanationMethod): boolean => m === 'attention' || m === 'rollout';

// ---------------------------------------------------------------- selectors

const keys = new WeakMap<Explanation, string>();
/** explanationKey, computed once per result object. */
export function keyOf(x: Explanation): string {
  let k = keys.get(x);
  if (k === undefined) keys.set(x, (k = explanationKey(x)));
  return k;
}

export const selectCompareMethod = (s: AppState) => s.compareMethod;
export const selectCompareAttention = (s: AppState) => s.compareAttention;
export const selectCompareScale = (s: AppState) => s.compareScale;
export const selectCompareSteps = (s: AppState) => s.compareSteps;
export const selectComparison = (s: AppState) => s.comparison;
export const selectCompareError = (s: AppState) => s.compareError;
export const selectTask = (s: AppState) => s.task;
export const selectTaskSide = (s: AppState) => s.taskSide;

/** The measurement of the primary result, when it was made for that result. */
export const selectPrimaryFaithfulness = (s: AppState): FaithfulnessSummary | null => {
  const f = s.faithfulness.primary;
  return f && s.explanation && f.of === keyOf(s.explanation) ? f : null;
};
export const selectComparisonFaithfulness = (s: AppState): FaithfulnessSummary | null => {
  const f = s.faithfulness.comparison;
  return f && s.comparison && f.of === keyOf(s.comparison) ? f : null;
};

/** Why the comparison does not sit over the shown result's units, or null when it does. */
export function comparisonMismatch(x: Explanation | null, y: Explanation | null): string | null {
  if (!x || !y) return null;
  if (x.prompt !== y.prompt || x.target !== y.target) return 'The comparison was computed for another prompt or target; press Compare again.';
  if (x.units.length !== y.units.length || x.units.some((u, i) => u.label !== y.units[i]!.label)) {
    return 'The comparison has other units than the shown result (the settings changed); press Compare again.';
  }
  if (!sameSettings(x.settings, y.settings)) return 'The comparison was computed with other settings than the shown result; press Compare again.';
  return null;
}

export const selectTaskWords = (s: AppState): string | null => taskWords(s);

/** What the RunBar says the run is for. */
export function taskWords(s: Pick<AppState, 'task' | 'taskSide' | 'compareMethod'>): string | null {
  switch (s.task) {
    case 'compare':
      return `Comparing with ${s.compareMethod}`;
    case 'faithfulness':
      return `Measuring faithfulness${s.taskSide === 'comparison' ? ' of the comparison' : ''}`;
    case 'steer':
      return 'Steering';
    default:
      return null;
  }
}

// ---------------------------------------------------------------- actions

/** The engine calls the analysis actions need; optional so older fakes still fit the port. */
export type AnalysisPort = Pick<EngineApi, 'explain'> & Partial<Pick<EngineApi, 'faithfulness' | 'steer'>>;

export type Runner = <T>(status: 'explaining' | 'generating', body: () => Promise<T>) => Promise<T | undefined>;

export interface AnalysisDeps {
  store: AppStore;
  engine: () => AnalysisPort;
  /** the actions' run wrapper: loads the model, sets status, catches into `error`, counts finished runs */
  run: Runner;
  /** the plain Explain action (AtMan on the current inputs) */
  explain: () => Promise<void>;
  staleReason: (s: AppState) => string | null;
  batchSize?: number;
}

const fail = (code: string, message: string): never => {
  throw Object.assign(new Error(message), { code });
};

/** Only what the curves need crosses to the worker: positions, scores, factors, token ids, mode. */
export function faithfulnessInput(x: Explanation) {
  return {
    prompt: x.prompt,
    target: x.target,
    units: x.units.map((u) => ({ label: u.label, positions: u.positions, score: u.score, factors: u.factors })),
    tokens: x.tokens.map((t) => ({ id: t.id })),
    settings: { mode: x.settings.mode, layers: x.settings.layers, factor: x.settings.factor, chat: x.settings.chat },
  };
}

export function createCompareActions(d: AnalysisDeps) {
  const get = d.store.getState;
  const set = d.store.setState;
  const progress = (p: ExplainProgress) => set({ progress: { done: p.loaded, total: p.total, elapsedSeconds: p.elapsedSeconds } });
  const batch = d.batchSize ? { batchSize: d.batchSize } : {};

  async function withTask<T>(task: AnalysisTask, side: FaithfulnessSide | null, body: () => Promise<T>): Promise<T> {
    set({ task, taskSide: side });
    try {
      return await body();
    } finally {
      set({ task: null, taskSide: null });
    }
  }

  /**
   * Runs the chosen second method on the shown result's prompt, target and settings. Without a
   * current result (none, or stale), Explain runs first, so both sides cover the same units.
   */
  async function compare(): Promise<void> {
    if (get().status !== 'idle') return;
    set({ compareError: null });
    const current = () => {
      const s = get();
      return s.explanation && d.staleReason(s) === null ? s.explanation : null;
    };
    if (!current()) {
      await d.explain();
      if (get().error || !current()) return;
    }
    const x = current()!;
    const { compareMethod: method, compareAttention: att, compareSteps: steps, speed } = get();
    await d.run('explaining', () =>
      withTask('compare', null, async () => {
        try {
          const attention: AttentionOptions = { query: att.query, ...(att.layers ? { layers: att.layers } : {}), ...(att.heads ? { heads: att.heads } : {}) };
          // A picture's explanation is compared on the same picture (and drawn regions).
          const picture = x.image ? imageRequest(get()) : {};
          const y = await d.engine().explain(
            { prompt: x.prompt, target: x.target, settings: x.settings, ...speed, ...batch, method, ...(isAttentionMethod(method) ? { attention } : {}), ...(method === 'integrated-gradients' ? { steps } : {}), ...picture },
            progress,
          );
          set({ comparison: y, progress: { done: y.passes, total: y.passes, elapsedSeconds: y.seconds } });
        } catch (e) {
          set({ compareError: errorOf(e) });
          throw e;
        }
      }),
    );
  }

  /** Deletion and insertion curves of one side's ranking, with the random floor. */
  async function measureFaithfulness(side: FaithfulnessSide = 'primary'): Promise<void> {
    const x = side === 'primary' ? get().explanation : get().comparison;
    if (!x || get().status !== 'idle') return;
    await d.run('explaining', () =>
      withTask('faithfulness', side, async () => {
        const engine = d.engine();
        if (!engine.faithfulness) fail('UNSUPPORTED', 'This engine cannot measure faithfulness.');
        const image = x.image ? imageRequest(get()).image : undefined;
        const r: FaithfulnessReport = await engine.faithfulness!({ explanation: faithfulnessInput(x), options: { ...batch }, ...(image ? { image } : {}) }, progress);
        set({ faithfulness: { ...get().faithfulness, [side]: summarizeFaithfulness(r, x) }, progress: { done: r.passes, total: r.passes, elapsedSeconds: r.seconds } });
      }),
    );
  }

  return { compare, measureFaithfulness };
}

function errorOf(e: unknown): RunError {
  const err = e as { code?: unknown; message?: unknown } | null;
  return { code: typeof err?.code === 'string' ? err.code : 'UNEXPECTED', message: typeof err?.message === 'string' && err.message ? err.message : String(e) };
}

// ---------------------------------------------------------------- persistence

export type ComparePersisted = Pick<AppState, 'compareMethod' | 'compareAttention' | 'compareScale' | 'compareSteps' | 'comparison' | 'faithfulness'>;

export function partializeCompare(s: AppState): ComparePersisted {
  return { compareMethod: s.compareMethod, compareAttention: s.compareAttention, compareScale: s.compareScale, compareSteps: s.compareSteps, comparison: s.comparison, faithfulness: s.faithfulness };
}

/** Integrated gradients' steps from outside the page (saved state, a link): the number rule's range, else the default with a problem. */
export function sanitizeCompareSteps(v: unknown, problems: Problems): number {
  if (v === undefined) return DEFAULT_IG_STEPS;
  const why = numberProblem(v, NUMBER_RULES.steps, 'The number of integration steps');
  if (why === null) return v as number;
  problems.push(`${why} Using ${DEFAULT_IG_STEPS}.`);
  return DEFAULT_IG_STEPS;
}

export function sanitizeCompareMethod(v: unknown, problems: Problems): CompareMethod {
  if (v === undefined) return 'occlusion-delete';
  if (COMPARE_METHODS.includes(v as CompareMethod)) return v as CompareMethod;
  problems.push(`Unknown comparison method ${JSON.stringify(String(v).slice(0, 30))}; using occlusion.`);
  return 'occlusion-delete';
}

const indexList = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.length <= 256 && v.every((i) => Number.isInteger(i) && i >= 0 && i < 4096);

export function sanitizeAttentionChoice(v: unknown, problems: Problems): AttentionChoice {
  if (v === undefined) return { ...DEFAULT_ATTENTION };
  const a = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const out: AttentionChoice = { ...DEFAULT_ATTENTION };
  if (a.layers === null || indexList(a.layers)) out.layers = a.layers === null ? null : [...(a.layers as number[])];
  else if (a.layers !== undefined) problems.push('The attention layers for the comparison are unreadable; using all.');
  if (a.heads === null || indexList(a.heads)) out.heads = a.heads === null ? null : [...(a.heads as number[])];
  else if (a.heads !== undefined) problems.push('The attention heads for the comparison are unreadable; using all.');
  if (a.query === 'last-prompt' || a.query === 'target-mean') out.query = a.query;
  else if (a.query !== undefined) problems.push('The attention query for the comparison is unknown; using the mean over the target rows.');
  return out;
}

export function restoreCompare(s: Record<string, unknown>, problems: Problems): Partial<CompareSlice> {
  const comparison = s.comparison == null ? null : sanitizeExplanation(s.comparison, problems);
  const f = (typeof s.faithfulness === 'object' && s.faithfulness !== null ? s.faithfulness : {}) as Record<string, unknown>;
  return {
    compareMethod: sanitizeCompareMethod(s.compareMethod, problems),
    compareAttention: sanitizeAttentionChoice(s.compareAttention, problems),
    compareScale: s.compareScale === 'shared' ? 'shared' : 'own',
    compareSteps: sanitizeCompareSteps(s.compareSteps, problems),
    comparison: comparison && comparison.units.length <= LIMITS.units ? comparison : null,
    faithfulness: {
      primary: sanitizeFaithfulness(f.primary, problems, 'saved faithfulness measurement'),
      comparison: sanitizeFaithfulness(f.comparison, problems, "saved comparison's faithfulness measurement"),
    },
  };
}
