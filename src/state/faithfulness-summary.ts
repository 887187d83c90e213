// What the page keeps of a faithfulness measurement: the curves and their areas, tied to the
// explanation they measured by a key, so a newer result never shows an older one's numbers. The
// same shape goes into storage, the JSON export and (rounded) the share link.
import { rankByScore } from '../core/faithfulness';
import type { Explanation, ExplanationMethod, FaithfulnessReport } from '../protocol/engine-api';
import type { Problems } from './sanitize';

export const EXPLANATION_METHODS: readonly ExplanationMethod[] = ['atman', 'attention', 'rollout', 'occlusion-delete', 'occlusion-mask', 'input-x-gradient', 'integrated-gradients', 'chefer'];

export interface CurvePair {
  deletion: number[];
  insertion: number[];
}

export interface FaithfulnessSummary extends CurvePair {
  /** explanationKey() of the explanation measured */
  of: string;
  method: ExplanationMethod;
  unitCount: number;
  /** number of top units at each curve point */
  ks: number[];
  /** unperturbed joint target probability (deletion at k = 0) */
  p0: number;
  aopc: number;
  abpc: number;
  deletionAuc: number;
  insertionAuc: number;
  /** the curves averaged over random rankings; null when none were run */
  random: (CurvePair & { aopc: number; abpc: number; runs: number }) | null;
  randomAbpc: number | null;
  removalFactor: number | 'explanation';
  mode: string;
  seconds: number;
}

/** FNV-1a over UTF-16 code units: short, stable keys for long texts. */
export function hashText(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

/**
 * Identity of an explanation for its measurements: method, texts, settings and the ranking of its
 * units. Recomputing the same inputs with the same ranking keeps the key (the curves depend on the
 * ranking only); any change to what is ranked, or how, gives a new one.
 */
export function explanationKey(x: Pick<Explanation, 'method' | 'prompt' | 'target' | 'settings' | 'units'>): string {
  const ranking = rankByScore(x.units.map((u) => u.score)).join(',');
  const units = x.units.map((u) => u.positions.join('.')).join('|');
  // Field by field, so key order (settings rebuilt by validation after a reload) does not matter.
  const st = x.settings;
  const g = st.granularity;
  const settings = [st.mode, st.factor, st.kappa, g.kind, g.kind === 'delimiter' ? g.delimiter : g.kind === 'chunks' ? g.chunks : null, st.targetGranularity, st.postprocess, st.layers ? [...st.layers].sort((a, b) => a - b) : null, st.tokenOverlap];
  return `${x.method ?? 'atman'}:${x.units.length}:${hashText(JSON.stringify([x.prompt, x.target, settings, units, ranking]))}`;
}

export function summarizeFaithfulness(r: FaithfulnessReport, x: Explanation): FaithfulnessSummary {
  return {
    of: explanationKey(x),
    method: x.method ?? 'atman',
    unitCount: r.unitCount,
    ks: [...r.ks],
    p0: r.baseline.probability,
    deletion: [...r.deletion],
    insertion: [...r.insertion],
    aopc: r.aopc,
    abpc: r.abpc,
    deletionAuc: r.deletionAuc,
    insertionAuc: r.insertionAuc,
    random: r.random ? { deletion: [...r.random.deletion], insertion: [...r.random.insertion], aopc: r.random.aopc, abpc: r.random.abpc, runs: r.random.seeds.length } : null,
    randomAbpc: r.randomAbpc,
    removalFactor: r.removalFactor,
    mode: r.mode,
    seconds: r.seconds,
  };
}

const round = (v: number, digits = 4): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/** The summary with every number rounded to 4 decimals (probabilities and their differences): for links. */
export function roundSummary(s: FaithfulnessSummary): FaithfulnessSummary {
  const r = (xs: number[]) => xs.map((v) => round(v));
  return {
    ...s,
    p0: round(s.p0),
    deletion: r(s.deletion),
    insertion: r(s.insertion),
    aopc: round(s.aopc),
    abpc: round(s.abpc),
    deletionAuc: round(s.deletionAuc),
    insertionAuc: round(s.insertionAuc),
    random: s.random ? { ...s.random, deletion: r(s.random.deletion), insertion: r(s.random.insertion), aopc: round(s.random.aopc), abpc: round(s.random.abpc) } : null,
    randomAbpc: s.randomAbpc === null ? null : round(s.randomAbpc),
    seconds: round(s.seconds, 2),
  };
}

const MAX_UNITS = 4096;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isProb = (v: unknown): v is number => isNum(v) && v >= 0 && v <= 1;
const isDiff = (v: unknown): v is number => isNum(v) && v >= -1 && v <= 1;
const probs = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every(isProb);

/** A summary from storage or a link, checked field by field; null (with a problem) when any part is off. */
export function sanitizeFaithfulness(v: unknown, problems: Problems, what = 'faithfulness measurement'): FaithfulnessSummary | null {
  const drop = (why: string): null => {
    problems.push(`The ${what} was dropped: ${why}.`);
    return null;
  };
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) return drop('it is not an object');
  const s = v as Record<string, unknown>;
  if (typeof s.of !== 'string' || s.of.length > 100) return drop('it names no explanation');
  if (!EXPLANATION_METHODS.includes(s.method as ExplanationMethod)) return drop('its method is unknown');
  if (!(Number.isInteger(s.unitCount) && (s.unitCount as number) >= 1 && (s.unitCount as number) <= MAX_UNITS)) return drop('its unit count is unreadable');
  const n = s.unitCount as number;
  const ks = s.ks;
  if (!Array.isArray(ks) || ks.length < 2 || ks.length > n + 1 || !ks.every((k, i) => Number.isInteger(k) && k >= 0 && k <= n && (i === 0 || k > ks[i - 1]))) {
    return drop('its curve points are unreadable');
  }
  const m = ks.length;
  if (!probs(s.deletion, m) || !probs(s.insertion, m) || !isProb(s.p0)) return drop('its curves are unreadable');
  if (![s.aopc, s.abpc].every(isDiff) || ![s.deletionAuc, s.insertionAuc].every(isProb)) return drop('its areas are unreadable');
  let random: FaithfulnessSummary['random'] = null;
  if (s.random !== null && s.random !== undefined) {
    const r = s.random as Record<string, unknown>;
    if (typeof r !== 'object' || !probs(r.deletion, m) || !probs(r.insertion, m) || !isDiff(r.aopc) || !isDiff(r.abpc) || !(Number.isInteger(r.runs) && (r.runs as number) >= 1 && (r.runs as number) <= 1000)) {
      return drop('its random floor is unreadable');
    }
    random = { deletion: [...(r.deletion as number[])], insertion: [...(r.insertion as number[])], aopc: r.aopc as number, abpc: r.abpc as number, runs: r.runs as number };
  }
  const removal = s.removalFactor;
  if (!(removal === 'explanation' || (isNum(removal) && removal >= 0 && removal < 1))) return drop('its removal factor is unreadable');
  if (!(s.randomAbpc === null || s.randomAbpc === undefined || isDiff(s.randomAbpc))) return drop('its random ABPC is unreadable');
  return {
    of: s.of,
    method: s.method as ExplanationMethod,
    unitCount: n,
    ks: [...(ks as number[])],
    p0: s.p0 as number,
    deletion: [...(s.deletion as number[])],
    insertion: [...(s.insertion as number[])],
    aopc: s.aopc as number,
    abpc: s.abpc as number,
    deletionAuc: s.deletionAuc as number,
    insertionAuc: s.insertionAuc as number,
    random,
    randomAbpc: isNum(s.randomAbpc) ? s.randomAbpc : (random?.abpc ?? null),
    removalFactor: removal as number | 'explanation',
    mode: s.mode === 'log-additive' ? 'log-additive' : 'multiplicative',
    seconds: isNum(s.seconds) && s.seconds >= 0 ? s.seconds : 0,
  };
}
