// Pure helpers behind the results view: which score each unit shows, ranks, the colour scale,
// token -> unit lookup and the probabilities a suppression implies. No DOM, no React.
//
// Sign: paper sign throughout (R[u,t] = CE_u[t] - CE_0[t]; positive = the unit is evidence for
// the target, suppressing it made the target less likely).
import { interpolateLab } from 'd3';
import type { Explanation } from '../../runtime/schema';

export type PostProcessName = Explanation['settings']['postprocess'];

/** The per-value post-processing of settings.postprocess (the same as src/core/scores.ts). */
export function postprocessValue(v: number, mode: PostProcessName): number {
  switch (mode) {
    case 'absolute':
      return Math.abs(v);
    case 'square':
      return v * v;
    default:
      return v;
  }
}

/**
 * One score per unit. targetIndex null: the unit's `score` (whole target, already post-processed).
 * A target index t: R[u,t] post-processed like settings.postprocess.
 */
export function unitScores(x: Pick<Explanation, 'units' | 'settings'>, targetIndex: number | null): number[] {
  if (targetIndex === null) return x.units.map((u) => u.score);
  return x.units.map((u) => {
    const r = u.perTarget[targetIndex];
    if (r === undefined) throw new RangeError(`target index ${targetIndex} outside ${u.perTarget.length} target tokens`);
    return postprocessValue(r, x.settings.postprocess);
  });
}

/**
 * Competition ranking, 1 = highest score ("1224": ties share the best rank).
 * Non-finite scores rank after every finite one.
 */
export function ranks(scores: readonly number[]): number[] {
  const key = (v: number): number => (Number.isFinite(v) ? v : -Infinity);
  const order = scores.map((_, i) => i).sort((a, b) => key(scores[b]!) - key(scores[a]!) || a - b);
  const out = new Array<number>(scores.length);
  order.forEach((u, k) => {
    const prev = k > 0 ? order[k - 1]! : -1;
    out[u] = k > 0 && key(scores[prev]!) === key(scores[u]!) ? out[prev]! : k + 1;
  });
  return out;
}

/** Largest |score| among the finite ones; 0 when there are none. */
export function maxAbs(scores: readonly number[]): number {
  let m = 0;
  for (const v of scores) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

// Colour-blind-safe diverging blue <-> orange, white at 0. Stops are ColorBrewer's: the blue side
// from RdBu (#92c5de, #2166ac), the orange side from PuOr (#fdb863, #e66101). Blue vs orange
// differs along the blue-yellow axis that protan and deutan vision keep, and stays distinct for
// tritan vision (teal vs red); both ends also differ in lightness from white.
export const NEGATIVE_STOPS = ['#ffffff', '#92c5de', '#2166ac'] as const;
export const POSITIVE_STOPS = ['#ffffff', '#fdb863', '#e66101'] as const;

function ramp(stops: readonly [string, string, string]): (t: number) => string {
  const a = interpolateLab(stops[0], stops[1]);
  const b = interpolateLab(stops[1], stops[2]);
  return (t) => (t <= 0.5 ? a(t * 2) : b((t - 0.5) * 2));
}
const negRamp = ramp(NEGATIVE_STOPS);
const posRamp = ramp(POSITIVE_STOPS);

export interface ColourScale {
  /** the domain is [-maxAbs, maxAbs] */
  maxAbs: number;
  /** background colour for a score: white at 0, blue below, orange above; grey for non-finite */
  (score: number): string;
  /** a readable text colour (near-black or white) on the background of this score */
  text(score: number): string;
}

export const NAN_COLOUR = '#d9d9d9';

/** Signed diverging scale over [-maxAbs, maxAbs]; maxAbs 0 paints everything white. */
export function colourScale(maxAbsValue: number): ColourScale {
  const m = Number.isFinite(maxAbsValue) && maxAbsValue > 0 ? maxAbsValue : 0;
  const bg = (score: number): string => {
    if (!Number.isFinite(score)) return NAN_COLOUR;
    if (m === 0 || score === 0) return 'rgb(255, 255, 255)';
    const t = Math.min(1, Math.abs(score) / m);
    return score < 0 ? negRamp(t) : posRamp(t);
  };
  const scale = bg as ColourScale;
  scale.maxAbs = m;
  scale.text = (score) => readableText(bg(score));
  return scale;
}

/** Parses rgb(...) / #rrggbb into [r, g, b] 0..255. */
export function parseColour(c: string): [number, number, number] {
  const m = c.match(/rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/);
  if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
  const h = c.match(/^#([0-9a-f]{6})$/i);
  if (h) {
    const n = parseInt(h[1]!, 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  throw new Error(`cannot read colour ${c}`);
}

/** WCAG relative luminance. */
export function luminance(c: string): number {
  const [r, g, b] = parseColour(c).map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export const DARK_TEXT = '#111111';
export const LIGHT_TEXT = '#ffffff';

/** Near-black or white, whichever has the higher WCAG contrast on the background. */
export function readableText(background: string): string {
  const L = luminance(background);
  const darkL = luminance(DARK_TEXT);
  const onDark = (1 + 0.05) / (L + 0.05);
  const onLight = (L + 0.05) / (darkL + 0.05);
  return onLight >= onDark ? DARK_TEXT : LIGHT_TEXT;
}

/**
 * For each token position, the index of the unit that covers it (prompt units, and earlier
 * target tokens when they are units), or null. Where units overlap, the later unit wins.
 */
export function tokenToUnit(x: Pick<Explanation, 'tokens' | 'units'>): Array<number | null> {
  const out: Array<number | null> = x.tokens.map(() => null);
  x.units.forEach((u, i) => {
    for (const p of u.positions) if (p >= 0 && p < out.length) out[p] = i;
  });
  return out;
}

/** Number of prompt tokens (the position of the first target token). */
export function promptLength(x: Pick<Explanation, 'tokens'>): number {
  const i = x.tokens.findIndex((t) => t.role === 'target');
  return i < 0 ? x.tokens.length : i;
}

/** The target tokens, in order. */
export function targetTokens(x: Pick<Explanation, 'tokens'>): Explanation['tokens'] {
  return x.tokens.filter((t) => t.role === 'target');
}

/**
 * Whether suppressing unit u can change target token t at all: target token t is predicted at
 * position P-1+t, so some suppressed column (own position or dragged-along one) must be <= P-1+t.
 */
export function canAffect(x: Pick<Explanation, 'tokens' | 'units'>, u: number, t: number): boolean {
  const unit = x.units[u];
  if (!unit) return false;
  const cols = unit.factors.length > 0 ? unit.factors.map(([p]) => p) : unit.positions;
  return Math.min(...cols) <= promptLength(x) - 1 + t;
}

export interface TargetProbability {
  /** target token index */
  t: number;
  /** R[u,t], raw (paper sign) */
  r: number;
  ceBefore: number;
  ceAfter: number;
  /** P(target token) in the unperturbed pass, exp(-CE_0[t]) */
  before: number;
  /** P(target token) with the unit suppressed, exp(-(CE_0[t] + R[u,t])) */
  after: number;
}

/** P(target token t) before and after suppressing unit u, for every target token. */
export function probabilities(x: Pick<Explanation, 'units' | 'baseline'>, u: number): TargetProbability[] {
  const unit = x.units[u];
  if (!unit) throw new RangeError(`no unit ${u}`);
  return x.baseline.crossEntropy.map((ce0, t) => {
    const r = unit.perTarget[t] ?? NaN;
    return { t, r, ceBefore: ce0, ceAfter: ce0 + r, before: Math.exp(-ce0), after: Math.exp(-(ce0 + r)) };
  });
}

/** P(whole target) = exp(-sum CE) before and after suppressing unit u (raw R, no post-processing). */
export function sequenceProbability(x: Pick<Explanation, 'units' | 'baseline'>, u: number): { before: number; after: number } {
  const rows = probabilities(x, u);
  const ce0 = rows.reduce((s, r) => s + r.ceBefore, 0);
  const ceU = rows.reduce((s, r) => s + r.ceAfter, 0);
  return { before: Math.exp(-ce0), after: Math.exp(-ceU) };
}

/** Four (or `digits`) significant digits with an explicit sign: "+1.234", "-0.02055", "0". */
export function formatScore(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const s = Math.abs(v).toPrecision(digits);
  return (v > 0 ? '+' : '-') + s;
}

/** A probability as a percentage with three significant digits: "12.3%", "0.00680%". */
export function formatPercent(p: number): string {
  if (!Number.isFinite(p)) return String(p);
  if (p === 0) return '0%';
  const pct = p * 100;
  return `${pct >= 99.95 && pct < 100 ? pct.toFixed(3) : pct.toPrecision(3)}%`;
}

/** How a token reads in a label: whitespace made visible, empty tokens by id. */
export function tokenLabel(tok: Explanation['tokens'][number]): string {
  if (tok.text === '') return `[${tok.id}]`;
  if (tok.text.trim() === '') return tok.text.replace(/ /g, '␣').replace(/\n/g, '⏎').replace(/\t/g, '⇥');
  return tok.text.replace(/\n/g, '⏎');
}

/** A unit label as shown: whitespace-only labels made visible ("␣"), empty ones as "∅". */
export function unitLabel(label: string): string {
  if (label === '') return '∅';
  if (label.trim() === '') return label.replace(/ /g, '␣').replace(/\n/g, '⏎').replace(/\t/g, '⇥');
  return label;
}

/** Shortens a label to `max` characters with an ellipsis. */
export function truncate(s: string, max: number): string {
  return [...s].length <= max ? s : [...s].slice(0, Math.max(1, max - 1)).join('') + '…';
}
