// Granularity 'auto' (docs/method.md, "Automatic units"): one timed pass over the whole sequence,
// the unit count of every level for this prompt, and the core's choice.
import { AUTO_LEVELS, AtmanError, type UnitChoice, chooseUnitLevel } from '../../core';
import type { AutoLevel } from '../../core/auto-units';
import type { Prepared } from './prepare';
import type { RunLevel } from './levels';

export async function chooseUnits(prepared: Prepared, budgetSeconds: number, runLevel: RunLevel): Promise<{ prepared: Prepared; choice: UnitChoice }> {
  if (!prepared.levels || prepared.image) {
    throw new AtmanError('BAD_SETTING', 'Automatic units choose among text units (token, word, sentence, paragraph); pick the units yourself for a prompt with an image.');
  }
  if (prepared.settings.drillDown) {
    throw new AtmanError('BAD_SETTING', 'Automatic units and drill-down each choose the units in their own way; use one of them.');
  }
  const { unitsAt, factorsFor } = prepared.levels;
  const byLevel = new Map(AUTO_LEVELS.map((level) => [level, unitsAt({ kind: level })]));
  // The unperturbed pass alone, timed: what every pass of every level costs at this length.
  const t = performance.now();
  await runLevel([], () => new Float32Array(0));
  const passSeconds = (performance.now() - t) / 1000;
  const choice = chooseUnitLevel({
    unitCounts: Object.fromEntries([...byLevel].map(([l, u]) => [l, u.length])) as Record<AutoLevel, number>,
    passSeconds,
    budgetSeconds,
  });
  const units = byLevel.get(choice.level)!;
  return {
    prepared: { ...prepared, settings: { ...prepared.settings, granularity: { kind: choice.level } }, units, factorsOf: factorsFor(units) },
    choice,
  };
}
