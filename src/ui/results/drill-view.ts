// Drill-down in the heatmap: for each position inside a refined unit, the finest unit the drill-down
// scored there (a word, or a token inside one of the strongest words). No DOM, no React.
import type { ExplainedUnit, Explanation } from '../../runtime/schema';
import { postprocessValue } from './score-view';

export interface RefinedPiece {
  label: string;
  score: number;
  /** the level's name, e.g. 'word' or 'token' */
  level: string;
  /** 1 = a child of a first-level unit, 2 = a grandchild, ... */
  depth: number;
}

/** Position -> the finest scored unit holding it, for the positions inside refined units; empty without a drill-down. */
export function refinedPieces(x: Pick<Explanation, 'units' | 'settings' | 'drillDown'>, targetIndex: number | null): Map<number, RefinedPiece> {
  const out = new Map<number, RefinedPiece>();
  const levels = x.drillDown?.levels;
  if (!levels) return out;
  const score = (u: ExplainedUnit) => (targetIndex === null ? u.score : postprocessValue(u.perTarget[targetIndex] ?? NaN, x.settings.postprocess));
  const walk = (units: ExplainedUnit[], depth: number) => {
    for (const u of units) {
      if (depth > 0) for (const p of u.positions) out.set(p, { label: u.label, score: score(u), level: levels[depth] ?? '', depth });
      if (u.children) walk(u.children, depth + 1);
    }
  };
  walk(x.units, 0);
  return out;
}
