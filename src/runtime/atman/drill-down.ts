// Drill-down (docs/method.md, "Drill-down"): all units of the first level, then, level by level,
// only the finer units inside the strongest units of the level above (at most `top`, and only
// those reaching `share` of the strongest score). Every score is the one a full run at that level
// gives the unit: the units are that level's own, their factors come from the same similarity, and
// the unperturbed pass, which depends on the sequence alone, is the first level's.
import { AtmanError, DEFAULT_DRILL_SHARE, type DrillDownSettings, drillLevels, drillStep, passCount, toRefine } from '../../core';
import type { Unit } from '../../core/types';
import type { RunReport } from './pass-runner';
import type { Prepared } from './prepare';
import { type RunLevel, explainedUnit, mergeReports } from './levels';
import type { DrillDownReport, ExplainedUnit } from '../schema';

export interface DrillDownResult {
  units: ExplainedUnit[];
  baseline: Float64Array;
  report: DrillDownReport;
  passes: number;
  run: RunReport;
}

export async function drillDown(prepared: Prepared, drill: DrillDownSettings, runLevel: RunLevel): Promise<DrillDownResult> {
  const { top, share = DEFAULT_DRILL_SHARE } = drill;
  if (!prepared.levels || prepared.image) {
    throw new AtmanError('BAD_SETTING', 'Drill-down refines text units (sentences, words, tokens); turn it off to explain a prompt with an image.');
  }
  const { unitsAt, factorsFor } = prepared.levels;
  const levels = drillLevels(prepared.settings.granularity);

  const first = await runLevel(prepared.units, prepared.factorsOf);
  const roots = prepared.units.map((u, i) => explainedUnit(u, first, i, prepared.factorsOf(i)));
  const passesPerLevel = [first.passes];
  const reports = [first.report];

  // The level above: its units, and the explained ones among them (all of the first level).
  let coarse: Unit[] = prepared.units;
  let explained = new Map<number, ExplainedUnit>(roots.map((x, i) => [i, x]));
  let finest = prepared.units;
  for (const kind of levels.slice(1)) {
    const fine = unitsAt({ kind });
    finest = fine;
    const candidates = [...explained.keys()];
    const refined = toRefine(candidates.map((c) => explained.get(c)!.score), top, share).map((k) => candidates[k]!);
    const step = drillStep(coarse, refined, fine);
    const factors = factorsFor(fine);
    const next = new Map<number, ExplainedUnit>();
    if (step.run.length > 0) {
      const level = await runLevel(step.run.map((f) => fine[f]!), (i) => factors(step.run[i]!), first.baseline);
      step.run.forEach((f, i) => next.set(f, explainedUnit(fine[f]!, level, i, factors(f))));
      passesPerLevel.push(level.passes);
      reports.push(level.report);
    } else passesPerLevel.push(0);
    for (const [f, parent] of step.children) {
      if (next.has(f)) continue;
      // The same positions as its parent: the same pass, so the parent's numbers are this unit's.
      const { children: _, ...same } = explained.get(parent)!;
      next.set(f, { ...same, label: fine[f]!.label, positions: fine[f]!.positions });
    }
    for (const parent of refined) explained.get(parent)!.children = [];
    for (const f of [...step.children.keys()].sort((a, b) => a - b)) explained.get(step.children.get(f)!)!.children!.push(next.get(f)!);
    coarse = fine;
    explained = next;
  }
  return {
    units: roots,
    baseline: first.ce0,
    report: { top, share, levels, passesPerLevel, fullPasses: passCount(finest.length) },
    passes: passesPerLevel.reduce((a, b) => a + b, 0),
    run: mergeReports(reports),
  };
}
