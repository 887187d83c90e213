// Steering: parts of the prompt, each with a factor held on its attention columns while the model
// generates, and the steered generation next to the plain one. The parts are character spans
// (picked from the heatmap) or texts (typed; every occurrence); the last result is kept as a
// compact record (token texts and probabilities) that storage and share links can carry.
import type { StateCreator } from 'zustand';
import type { ControlMode } from '../../core/types';
import type { SteerResult, SteerStepEvent, SteerUnit } from '../../protocol/engine-api';
import type { AnalysisDeps } from './compare-slice';
import { LIMITS, type Problems } from '../sanitize';
import type { AppState } from './app-state';
import type { SteerUnitDraft, SteerTokenRecord, SteerRunRecord, SteerRecord, SteerSlice } from './app-state';
import { NUMBER_RULES, numberProblem } from '../../core/numbers';
export type { SteerUnitDraft, SteerTokenRecord, SteerRunRecord, SteerRecord, SteerSlice } from './app-state';

type SteerRun = SteerResult['steered'];
type SteerToken = SteerRun['tokens'][number];

export const STEER_FACTOR_MAX = 3;
export const MAX_STEER_UNITS = 32;
export const MAX_STEER_TOKENS = 64;

const clampFactor = (f: number): number => (Number.isFinite(f) ? Math.max(0, Math.min(STEER_FACTOR_MAX, f)) : 1);
const sameUnit = (a: Pick<SteerUnitDraft, 'span' | 'text'>, b: Pick<SteerUnitDraft, 'span' | 'text'>): boolean =>
  a.span !== undefined && b.span !== undefined ? a.span[0] === b.span[0] && a.span[1] === b.span[1] : a.text !== undefined && a.text === b.text;

export const createSteerSlice: StateCreator<AppState, [], [], SteerSlice> = (set, get) => ({
  steerUnits: [],
  steerMaxNewTokens: 8,
  steerResult: null,
  steerLive: null,
  toggleSteerUnit(u) {
    const units = get().steerUnits;
    const at = units.findIndex((v) => sameUnit(v, u));
    if (at >= 0) return set({ steerUnits: units.filter((_, i) => i !== at) });
    if (units.length >= MAX_STEER_UNITS) return;
    const unit: SteerUnitDraft = { label: u.label, factor: clampFactor(u.factor ?? 0), ...(u.span ? { span: [u.span[0], u.span[1]] } : { text: u.text ?? u.label }) };
    set({ steerUnits: [...units, unit] });
  },
  setSteerFactor: (index, factor) => set({ steerUnits: get().steerUnits.map((u, i) => (i === index ? { ...u, factor: clampFactor(factor) } : u)) }),
  removeSteerUnit: (index) => set({ steerUnits: get().steerUnits.filter((_, i) => i !== index) }),
  setSteerMaxNewTokens: (n) => set({ steerMaxNewTokens: Math.max(1, Math.min(MAX_STEER_TOKENS, Math.round(n) || 1)) }),
});

export const selectSteerUnits = (s: AppState) => s.steerUnits;
export const selectSteerMaxNewTokens = (s: AppState) => s.steerMaxNewTokens;
export const selectSteerResult = (s: AppState) => s.steerResult;
export const selectSteerLive = (s: AppState) => s.steerLive;

/** Why a drafted part no longer fits the prompt (it was edited since), or null. */
export function steerUnitProblem(u: SteerUnitDraft, prompt: string): string | null {
  if (u.span) {
    const [a, b] = u.span;
    if (b > prompt.length || prompt.slice(a, b) !== u.label) return `"${u.label}" is no longer at that place in the prompt`;
    return null;
  }
  return u.text && prompt.includes(u.text) ? null : `"${u.text ?? u.label}" does not occur in the prompt`;
}

export function steerRequestUnits(units: readonly SteerUnitDraft[]): SteerUnit[] {
  return units.map((u) => (u.span ? { span: [u.span[0], u.span[1]] as [number, number], factor: u.factor } : { text: u.text ?? u.label, factor: u.factor }));
}

const tokenRecord = (t: SteerToken): SteerTokenRecord => ({ text: t.text, p: t.probability, other: t.other ? t.other.probability : null, ...(t.eos ? { eos: true as const } : {}) });
const runRecord = (r: SteerRun): SteerRunRecord => ({ text: r.text, stop: r.stop, tokens: r.tokens.map(tokenRecord) });

export function steerRecord(r: SteerResult): SteerRecord {
  return {
    prompt: r.prompt,
    mode: r.mode,
    maxNewTokens: r.maxNewTokens,
    units: r.units.map((u) => ({ label: u.label, factor: u.factor })),
    steered: runRecord(r.steered),
    unsteered: runRecord(r.unsteered),
    seconds: r.seconds,
  };
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;
/** Probabilities to 4 decimals: for links. */
export function roundSteerRecord(r: SteerRecord): SteerRecord {
  const run = (x: SteerRunRecord): SteerRunRecord => ({ ...x, tokens: x.tokens.map((t) => ({ ...t, p: round4(t.p), other: t.other === null ? null : round4(t.other) })) });
  return { ...r, steered: run(r.steered), unsteered: run(r.unsteered), seconds: Math.round(r.seconds * 100) / 100 };
}

// ---------------------------------------------------------------- actions

const fail = (message: string): never => {
  throw Object.assign(new Error(message), { code: 'BAD_SETTING' });
};

export function createSteerActions(d: AnalysisDeps) {
  const get = d.store.getState;
  const set = d.store.setState;

  /** Greedy generation with the parts' factors held, next to the plain generation, token by token. */
  async function steerGenerate(): Promise<void> {
    const s = get();
    if (s.status !== 'idle') return;
    const { prompt, steerUnits, steerMaxNewTokens: maxNewTokens, settings } = s;
    await d.run('generating', async () => {
      // Checked inside the run, so a refusal ends a run like any other failure.
      if (steerUnits.length === 0) fail('Pick at least one part of the prompt to steer (click it in the heatmap or type it), then give it a factor.');
      const bad = steerUnits.map((u) => steerUnitProblem(u, prompt)).find((p) => p !== null);
      if (bad) fail(`${bad}; remove it or pick it again.`);
      set({ task: 'steer', taskSide: null, steerLive: { steered: [], unsteered: [] }, progress: { done: 0, total: maxNewTokens, elapsedSeconds: 0 } });
      const t0 = performance.now();
      try {
        const engine = d.engine();
        if (!engine.steer) throw Object.assign(new Error('This engine cannot steer.'), { code: 'UNSUPPORTED' });
        const r = await engine.steer({ prompt, units: steerRequestUnits(steerUnits), maxNewTokens, mode: settings.mode, layers: settings.layers, chat: settings.chat }, (e: SteerStepEvent) => {
          const live = get().steerLive ?? { steered: [], unsteered: [] };
          set({
            steerLive: {
              steered: e.steered ? [...live.steered, tokenRecord(e.steered)] : live.steered,
              unsteered: e.unsteered ? [...live.unsteered, tokenRecord(e.unsteered)] : live.unsteered,
            },
            progress: { done: e.step + 1, total: maxNewTokens, elapsedSeconds: (performance.now() - t0) / 1000 },
          });
        });
        // The run bar counts passes; a finished steering run has none to report.
        set({ steerResult: steerRecord(r), progress: null });
      } finally {
        set({ steerLive: null, task: null });
      }
    });
  }

  return { steerGenerate };
}

// ---------------------------------------------------------------- persistence and links

export type SteerPersisted = Pick<AppState, 'steerUnits' | 'steerMaxNewTokens' | 'steerResult'>;

export const partializeSteer = (s: AppState): SteerPersisted => ({ steerUnits: s.steerUnits, steerMaxNewTokens: s.steerMaxNewTokens, steerResult: s.steerResult });

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isProb = (v: unknown): v is number => isNum(v) && v >= 0 && v <= 1;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;

export function sanitizeSteerUnits(v: unknown, problems: Problems): SteerUnitDraft[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_STEER_UNITS) {
    problems.push('The steered parts are unreadable; none were kept.');
    return [];
  }
  const out: SteerUnitDraft[] = [];
  for (const raw of v as unknown[]) {
    const u = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const factorOk = isNum(u.factor) && u.factor >= 0 && u.factor <= STEER_FACTOR_MAX;
    const span = u.span;
    const spanOk = Array.isArray(span) && span.length === 2 && span.every((x) => Number.isInteger(x) && x >= 0 && x <= LIMITS.prompt) && span[0] < span[1];
    if (!factorOk || !isText(u.label, LIMITS.prompt) || (u.label as string) === '') {
      problems.push('A steered part was unreadable and was dropped.');
      continue;
    }
    if (spanOk && u.text === undefined) out.push({ span: [span[0] as number, span[1] as number], label: u.label as string, factor: u.factor as number });
    else if (span === undefined && isText(u.text, LIMITS.prompt) && u.text !== '') out.push({ text: u.text, label: u.label as string, factor: u.factor as number });
    else problems.push('A steered part was unreadable and was dropped.');
  }
  return out;
}

function sanitizeRun(v: unknown): SteerRunRecord | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (!isText(r.text, 20_000) || !(r.stop === 'eos' || r.stop === 'max-new-tokens' || r.stop === 'max-positions')) return null;
  if (!Array.isArray(r.tokens) || r.tokens.length > MAX_STEER_TOKENS + 1) return null;
  const tokens: SteerTokenRecord[] = [];
  for (const raw of r.tokens as unknown[]) {
    const t = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (!isText(t.text, 1000) || !isProb(t.p) || !(t.other === null || isProb(t.other)) || !(t.eos === undefined || t.eos === true)) return null;
    tokens.push({ text: t.text, p: t.p, other: t.other as number | null, ...(t.eos ? { eos: true as const } : {}) });
  }
  return { text: r.text, stop: r.stop, tokens };
}

/** A steering result from storage or a link; null (with a problem) when any part is off. */
export function sanitizeSteerRecord(v: unknown, problems: Problems): SteerRecord | null {
  if (v === null || v === undefined) return null;
  const drop = (why: string): null => {
    problems.push(`The steered generation was dropped: ${why}.`);
    return null;
  };
  if (typeof v !== 'object') return drop('it is not an object');
  const r = v as Record<string, unknown>;
  if (!isText(r.prompt, LIMITS.prompt)) return drop('its prompt is unreadable');
  if (r.mode !== 'multiplicative' && r.mode !== 'log-additive') return drop('its mode is unknown');
  if (!(Number.isInteger(r.maxNewTokens) && (r.maxNewTokens as number) >= 1 && (r.maxNewTokens as number) <= MAX_STEER_TOKENS)) return drop('its length is unreadable');
  if (!Array.isArray(r.units) || r.units.length > MAX_STEER_UNITS) return drop('its parts are unreadable');
  const units: SteerRecord['units'] = [];
  for (const raw of r.units as unknown[]) {
    const u = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (!isText(u.label, LIMITS.prompt) || numberProblem(u.factor, NUMBER_RULES.steerFactor) !== null) return drop('its parts are unreadable');
    units.push({ label: u.label, factor: u.factor as number });
  }
  const steered = sanitizeRun(r.steered);
  const unsteered = sanitizeRun(r.unsteered);
  if (!steered || !unsteered) return drop('its tokens are unreadable');
  return { prompt: r.prompt, mode: r.mode, maxNewTokens: r.maxNewTokens as number, units, steered, unsteered, seconds: isNum(r.seconds) && r.seconds >= 0 ? r.seconds : 0 };
}

export function restoreSteer(s: Record<string, unknown>, problems: Problems): Partial<SteerSlice> {
  const n = s.steerMaxNewTokens;
  const okN = n === undefined || (Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_STEER_TOKENS);
  if (!okN) problems.push(`The number of tokens to steer must be a whole number from 1 to ${MAX_STEER_TOKENS}; using 8.`);
  return {
    steerUnits: sanitizeSteerUnits(s.steerUnits, problems),
    steerMaxNewTokens: okN && n !== undefined ? (n as number) : 8,
    steerResult: sanitizeSteerRecord(s.steerResult, problems),
  };
}
