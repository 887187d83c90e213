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
 * Two per level, from the measurements in the README ("Drill-down"): on held-out document-QA cases
 * the evidence sentence and the question (which names whom it asks about) are the two strongest
 * sentences, so two found full AtMan's top token in every case under the document-QA preset, where
 * one missed it in 8 of 20; three added 5 points of agreement under the default settings for 20 more
 * points of passes on short documents, and on a long document two stays under a tenth of the passes.
 */
export const DEFAULT_DRILL_TOP = 2;
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
  for (const key of Object.keys(v)) {
    if (key !== 'top') throw new AtmanError('BAD_SETTING', `Unknown drill-down setting "${key}".`);
  }
  return { top };
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
