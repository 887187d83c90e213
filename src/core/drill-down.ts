// The unit hierarchy of a drill-down (docs/method.md, "Drill-down"): paragraph > sentence > word >
// token, which finer units sit inside which coarser ones, and which units are refined.
//
// Exactness: every level's units are exactly the units a full run at that level builds
// (buildUnits), so each score is the AtMan score a full run at that level gives for that unit.
// A drill-down only chooses which of them to run.
import { AtmanError } from './errors';
import type { DrillDownSettings, Granularity, Unit } from './types';

/** The levels a drill-down walks through, coarsest first. */
export const DRILL_LEVELS = ['paragraph', 'sentence', 'word', 'token'] as const;
export type DrillLevel = (typeof DRILL_LEVELS)[number];

/**
 * At most two per level: on document QA the evidence sentence and the question (which names whom it
 * asks about) are the two strongest sentences, and one alone missed full AtMan's top token in about a
 * quarter of the documents; on a long document two stay under a tenth of the passes.
 */
export const DEFAULT_DRILL_TOP = 2;
/**
 * Of those, only units scoring at least this share of their level's strongest unit: a second unit far
 * weaker than the first rarely holds the top token, and skipping it saves its children's passes.
 * Chosen on documents the README's figures do not come from (scripts/tune-drill-down.ts, seed 4):
 * 0.4 kept every top token found by the plain top two under the document-QA preset (40/40, with 52%
 * of a full run's passes against 58%) and lost one of 40 under the default settings, while 0.5 and
 * above lost more under both. On the held-out documents the preset kept 19 of 20 and the defaults
 * lost two more than the top two did (README, "Drill-down").
 */
export const DEFAULT_DRILL_SHARE = 0.4;
/** More than this is close to a full run at the finer level and no longer a drill-down. */
export const MAX_DRILL_TOP = 64;

/** Whether a granularity can start a drill-down (it has a finer level below it). */
export const canDrillFrom = (g: Granularity): g is { kind: 'paragraph' | 'sentence' | 'word' } =>
  g.kind === 'paragraph' || g.kind === 'sentence' || g.kind === 'word';

/** The levels from the given granularity down to tokens; throws BAD_SETTING where there is no chain. */
export function drillLevels(start: Granularity): DrillLevel[] {
  if (!canDrillFrom(start)) {
    throw new AtmanError(
      'BAD_SETTING',
      `Drill-down starts at paragraph, sentence or word units and refines them down to tokens; granularity "${start.kind}" has no finer level to refine into. Pick sentence units, or turn drill-down off.`,
    );
  }
  return DRILL_LEVELS.slice(DRILL_LEVELS.indexOf(start.kind));
}

/** Checks the drill-down's own fields (not its fit with the granularity). */
export function checkDrillDown(v: unknown): DrillDownSettings {
  const top = (v as { top?: unknown } | null)?.top;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof top !== 'number' || !Number.isInteger(top) || top < 1 || top > MAX_DRILL_TOP) {
    throw new AtmanError('BAD_SETTING', `Drill-down takes how many of the strongest units of each level to refine: a whole number from 1 to ${MAX_DRILL_TOP}; got ${JSON.stringify(top ?? v)}.`);
  }
  const share = (v as { share?: unknown }).share;
  if (share !== undefined && (typeof share !== 'number' || !Number.isFinite(share) || share < 0 || share > 1)) {
    throw new AtmanError(
      'BAD_SETTING',
      `Drill-down's share is the fraction of the strongest unit's score a unit needs to be refined: a number from 0 (always the top ${top}) to 1 (the strongest alone); got ${JSON.stringify(share)}.`,
    );
  }
  for (const key of Object.keys(v)) {
    if (key !== 'top' && key !== 'share') throw new AtmanError('BAD_SETTING', `Unknown drill-down setting "${key}".`);
  }
  return { top, ...(share !== undefined ? { share } : {}) };
}

/**
 * The units of a level to refine: the strongest, and up to top - 1 more whose scores reach
 * `share` of the strongest score (where that is positive; a level with no positive score refines
 * its strongest unit alone unless share is 0). Indices in descending score order.
 */
export function toRefine(scores: readonly number[], top: number, share = DEFAULT_DRILL_SHARE): number[] {
  const ranked = strongest(scores, top);
  if (share === 0 || ranked.length === 0) return ranked;
  const max = scores[ranked[0]!]!;
  return ranked.filter((i, r) => r === 0 || (max > 0 && scores[i]! >= share * max));
}

/**
 * For each finer unit, the index of the coarser unit it sits in, or -1 where it overlaps none.
 * Segment boundaries of two levels need not nest around whitespace (a sentence keeps the space
 * after its full stop, the next word takes it), so a finer unit goes to the coarser unit holding
 * most of its positions, the later one on a tie (floating whitespace belongs to the text after it).
 */
export function parentsOf(coarse: readonly Unit[], fine: readonly Unit[]): number[] {
  const owner = new Map<number, number>();
  coarse.forEach((u, i) => u.positions.forEach((p) => owner.set(p, i)));
  return fine.map((u) => {
    const votes = new Map<number, number>();
    for (const p of u.positions) {
      const o = owner.get(p);
      if (o !== undefined) votes.set(o, (votes.get(o) ?? 0) + 1);
    }
    let best = -1;
    let most = 0;
    for (const [o, n] of votes) if (n > most || (n === most && o > best)) [best, most] = [o, n];
    return best;
  });
}

/** Indices of the k highest scores (ties: the earlier unit), in descending score order. */
export function strongest(scores: readonly number[], k: number): number[] {
  return scores
    .map((s, i) => ({ s, i }))
    .filter((x) => Number.isFinite(x.s))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, k)
    .map((x) => x.i);
}

/** Two units are the same unit: they suppress the same positions with the same shares, so their passes are the same pass. */
export function sameUnit(a: Unit, b: Unit): boolean {
  if (a.positions.length !== b.positions.length) return false;
  for (let i = 0; i < a.positions.length; i++) {
    if (a.positions[i] !== b.positions[i]) return false;
    if ((a.coverage?.[i] ?? 1) !== (b.coverage?.[i] ?? 1)) return false;
  }
  return true;
}

/** One step down: which finer units are explained, and which of them need a pass of their own. */
export interface DrillStep {
  /** finer unit index -> coarser (refined) unit index, for every finer unit inside a refined one */
  children: Map<number, number>;
  /** finer units that need a pass; the others are the same unit as their parent and take its score */
  run: number[];
}

/** The finer units inside the refined coarser ones; a child equal to its parent needs no pass. */
export function drillStep(coarse: readonly Unit[], refined: readonly number[], fine: readonly Unit[]): DrillStep {
  const keep = new Set(refined);
  const parents = parentsOf(coarse, fine);
  const children = new Map<number, number>();
  const run: number[] = [];
  parents.forEach((parent, f) => {
    if (!keep.has(parent)) return;
    children.set(f, parent);
    if (!sameUnit(fine[f]!, coarse[parent]!)) run.push(f);
  });
  return { children, run };
}
