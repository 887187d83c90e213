// Faithfulness of a ranking of units: deletion and insertion curves and their areas.
//
// A ranking is faithful when removing its top units hurts the target most (deletion curve falls
// fast) and keeping only its top units preserves the target best (insertion curve rises fast).
// "Removing" is the attention manipulation itself with a removal factor, so the curves cost
// forward passes only, one per point.
//
// Definitions (all areas are plain means over the curve's points, k = ks[0..m-1]):
// - p_k: joint target probability exp(-sum_t CE_k[t]) with the suppressed set at point k.
// - deletion: the top-k units suppressed; insertion: every unit except the top-k suppressed.
//   del_0 = ins_n = p_0 (nothing suppressed) and del_n = ins_0 (everything suppressed).
// - AOPC (deletion) = mean_k (p_0 - del_k): higher = the ranking finds what the target needs.
// - insertion AUC = mean_k ins_k; deletion AUC = mean_k del_k.
// - ABPC = mean_k (ins_k - del_k) = insertion AUC - deletion AUC: the area between the curves,
//   positive and large for a faithful ranking, about 0 for a random one.
// With evenly spaced k these means approximate the integrals over the fraction k/n.

import { AtmanError } from './errors';

/** k values for the curves: 0..n, or maxPoints of them evenly spaced (0 and n always included). */
export function curveKs(n: number, maxPoints?: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`unit count ${n} is not a whole number >= 0`);
  if (maxPoints !== undefined && (!Number.isInteger(maxPoints) || maxPoints < 2)) {
    throw new AtmanError('BAD_SETTING', `A curve needs at least 2 points (no unit removed and all removed); got ${maxPoints}.`);
  }
  if (maxPoints === undefined || maxPoints >= n + 1) return Array.from({ length: n + 1 }, (_, k) => k);
  const ks: number[] = [];
  for (let i = 0; i < maxPoints; i++) {
    const k = Math.round((i * n) / (maxPoints - 1));
    if (ks[ks.length - 1] !== k) ks.push(k);
  }
  return ks;
}

/** Unit indices, highest score first. Ties keep unit order; NaN scores go last. */
export function rankByScore(scores: ArrayLike<number>): number[] {
  const key = (i: number) => (Number.isNaN(scores[i]!) ? -Infinity : scores[i]!);
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => {
    const d = key(b) - key(a);
    // -Infinity - -Infinity is NaN: treat as a tie, and put NaN after a true -Infinity.
    if (d > 0 || d < 0) return d;
    const nanA = Number.isNaN(scores[a]!);
    const nanB = Number.isNaN(scores[b]!);
    return nanA === nanB ? a - b : nanA ? 1 : -1;
  });
}

/** Uniform numbers in [0, 1) from a 32-bit seed (mulberry32): the same stream on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniformly random order of 0..n-1 (Fisher-Yates) fixed by the seed. */
export function seededPermutation(n: number, seed: number): number[] {
  const next = seededRandom(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Checks that a ranking is an order of 0..n-1, each unit once. */
export function checkRanking(order: readonly number[], n: number): void {
  const seen = new Set<number>();
  for (const u of order) {
    if (!Number.isInteger(u) || u < 0 || u >= n || seen.has(u)) {
      throw new AtmanError('BAD_SETTING', `The ranking must list each of the ${n} units once (indices 0 to ${n - 1}); ${u} is out of range or repeated.`);
    }
    seen.add(u);
  }
  if (seen.size !== n) throw new AtmanError('BAD_SETTING', `The ranking lists ${seen.size} units; the explanation has ${n}.`);
}

/**
 * The suppressed unit sets at each k: deletion suppresses order[0..k), insertion suppresses
 * order[k..n). Along ks the deletion sets only grow and the insertion sets only shrink.
 */
export function curveSets(order: readonly number[], ks: readonly number[]): { deletion: number[][]; insertion: number[][] } {
  return {
    deletion: ks.map((k) => order.slice(0, k)),
    insertion: ks.map((k) => order.slice(k)),
  };
}

/**
 * Column factors with several units suppressed together: at each position the smallest factor any
 * of them puts there, so a position two units share is suppressed as strongly as either does.
 * A superset of units therefore never has a larger factor anywhere.
 */
export function combineFactors(unitFactors: (unit: number) => Float32Array, units: readonly number[], seqLen: number): Float32Array {
  const out = new Float32Array(seqLen).fill(1);
  for (const u of units) {
    const phi = unitFactors(u);
    if (phi.length !== seqLen) throw new RangeError(`unit ${u} has ${phi.length} factors, the sequence has ${seqLen}`);
    for (let i = 0; i < seqLen; i++) if (phi[i]! < out[i]!) out[i] = phi[i]!;
  }
  return out;
}

/** Factors of one unit removed with a fixed factor: `removal` on each of its positions, 1 elsewhere. */
export function removalFactors(positions: readonly number[], seqLen: number, removal: number): Float32Array {
  const phi = new Float32Array(seqLen).fill(1);
  for (const p of positions) {
    if (!(Number.isInteger(p) && p >= 0 && p < seqLen)) throw new RangeError(`unit position ${p} outside sequence of ${seqLen}`);
    phi[p] = Math.min(phi[p]!, removal);
  }
  return phi;
}

export interface TargetProbability {
  /** exp(-sum_t CE[t]): the probability of the whole target */
  joint: number;
  /** mean_t exp(-CE[t]): less dominated by one hard token */
  meanToken: number;
}

export function targetProbability(ce: ArrayLike<number>): TargetProbability {
  if (ce.length === 0) throw new RangeError('no target tokens');
  let sum = 0;
  let mean = 0;
  for (let t = 0; t < ce.length; t++) {
    sum += ce[t]!;
    mean += Math.exp(-ce[t]!);
  }
  return { joint: Math.exp(-sum), meanToken: mean / ce.length };
}

export interface CurveAreas {
  /** mean_k (p_0 - del_k) */
  aopc: number;
  /** mean_k del_k */
  deletionAuc: number;
  /** mean_k ins_k */
  insertionAuc: number;
  /** mean_k (ins_k - del_k) */
  abpc: number;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export function curveAreas(p0: number, deletion: readonly number[], insertion: readonly number[]): CurveAreas {
  if (deletion.length === 0 || deletion.length !== insertion.length) {
    throw new RangeError(`curves of ${deletion.length} and ${insertion.length} points; both need the same number, at least 1`);
  }
  const deletionAuc = mean(deletion);
  const insertionAuc = mean(insertion);
  return {
    aopc: mean(deletion.map((d) => p0 - d)),
    deletionAuc,
    insertionAuc,
    abpc: mean(insertion.map((ins, k) => ins - deletion[k]!)),
  };
}

/** Point-wise mean of curves of equal length (the random floor over several seeds). */
export function meanCurve(curves: readonly (readonly number[])[]): number[] {
  if (curves.length === 0) throw new RangeError('no curves to average');
  const m = curves[0]!.length;
  if (curves.some((c) => c.length !== m)) throw new RangeError('curves of different lengths');
  return Array.from({ length: m }, (_, k) => mean(curves.map((c) => c[k]!)));
}
