// Granularity 'auto': the finest unit level whose passes fit the user's time budget
// (docs/method.md, "Automatic units"). Pure: the runtime measures one pass and counts the units.
import { AtmanError } from './errors';
import { passCount } from './plan';

/** Finest first: the order auto tries the levels in. */
export const AUTO_LEVELS = ['token', 'word', 'sentence', 'paragraph'] as const;
export type AutoLevel = (typeof AUTO_LEVELS)[number];

export interface LevelEstimate {
  level: AutoLevel;
  units: number;
  passes: number;
  seconds: number;
  fits: boolean;
}

export interface UnitChoice {
  level: AutoLevel;
  budgetSeconds: number;
  /** the measured time of one pass over the whole sequence */
  passSeconds: number;
  estimates: LevelEstimate[];
  /** what was chosen and why, in one sentence */
  reason: string;
}

export interface UnitChoiceInput {
  /** units each level has for this prompt (levels left out are not considered) */
  unitCounts: Partial<Record<AutoLevel, number>>;
  passSeconds: number;
  budgetSeconds: number;
}

/**
 * The finest level whose estimated time (passes x one pass's time) fits the budget; where none fits,
 * the level with the fewest passes, and the reason says it will take longer than asked. One pass
 * timed alone over the whole sequence over-estimates a batched run with prefix reuse, so the
 * estimate errs on the side of staying within the budget.
 */
export function chooseUnitLevel({ unitCounts, passSeconds, budgetSeconds }: UnitChoiceInput): UnitChoice {
  if (!(budgetSeconds > 0) || !Number.isFinite(budgetSeconds)) throw new AtmanError('BAD_SETTING', `The time budget must be a positive number of seconds; got ${budgetSeconds}.`);
  if (!(passSeconds >= 0) || !Number.isFinite(passSeconds)) throw new AtmanError('BAD_SETTING', `The measured pass time must be a number of seconds >= 0; got ${passSeconds}.`);
  const estimates: LevelEstimate[] = AUTO_LEVELS.filter((l) => unitCounts[l] !== undefined).map((level) => {
    const units = unitCounts[level]!;
    const passes = passCount(units);
    const seconds = passes * passSeconds;
    return { level, units, passes, seconds, fits: seconds <= budgetSeconds };
  });
  if (estimates.length === 0) throw new AtmanError('BAD_SETTING', 'Automatic units need at least one unit level to choose from.');
  const t = (s: number) => (s < 10 ? s.toFixed(1) : Math.round(s).toString());
  const fit = estimates.find((e) => e.fits);
  const budget = `the ${t(budgetSeconds)} s budget`;
  if (fit) {
    const finer = estimates.slice(0, estimates.indexOf(fit));
    const why = finer.length
      ? `; ${finer.map((e) => `${e.level} (${e.passes} passes, ~${t(e.seconds)} s)`).join(', ')} would not fit`
      : ', the finest level';
    return { level: fit.level, budgetSeconds, passSeconds, estimates, reason: `${fit.level} units: ${fit.passes} passes at ~${(passSeconds * 1000).toFixed(0)} ms each take ~${t(fit.seconds)} s, within ${budget}${why}.` };
  }
  const cheapest = estimates.reduce((a, b) => (b.passes < a.passes ? b : a));
  return {
    level: cheapest.level,
    budgetSeconds,
    passSeconds,
    estimates,
    reason: `${cheapest.level} units: no level fits ${budget}; the coarsest needs ${cheapest.passes} passes at ~${(passSeconds * 1000).toFixed(0)} ms each, ~${t(cheapest.seconds)} s.`,
  };
}

/** Reads a duration such as 30s, 2m, 1m30s, 1.5min, 500ms or 45 (seconds); returns seconds. */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  const unit: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  let rest = s;
  if (/^\d+(\.\d+)?$/.test(s)) total = Number(s);
  else {
    const part = /^(\d+(?:\.\d+)?)\s*(ms|sec|s|min|m|h)/;
    let m: RegExpExecArray | null;
    while (rest !== '' && (m = part.exec(rest))) {
      total += Number(m[1]) * unit[m[2]!]!;
      rest = rest.slice(m[0].length).trimStart();
    }
    if (rest !== '' || s === '') total = NaN;
  }
  if (!(total > 0) || !Number.isFinite(total)) {
    throw new AtmanError('BAD_SETTING', `Cannot read the time budget "${text}"; write it like 30s, 2m, 1m30s or 500ms.`);
  }
  return total;
}
