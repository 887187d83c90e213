// Every number a user or a caller hands the engine, with the one range it may take: the command
// line reads its flags with `readNumber`, the engine's entry points check API values with
// `checkNumber`, and share links ask `numberProblem` (which never throws). One field, one rule, one
// sentence naming the field and what it allows, so the same bad value reads the same everywhere.
// Bounds are generous where the model decides the real limit (layers, tokens): they only keep
// values finite, whole where counting is meant, and small enough to compute with.
import { AtmanError } from './errors';

export interface NumberRule {
  /** how the user sees the field, e.g. "factor" or "batch size" */
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** a count or an index: whole numbers only */
  readonly integer: boolean;
  /** min itself is not allowed (e.g. a removal factor below 1) */
  readonly maxExclusive?: boolean;
  /** what the number does, for the sentence */
  readonly meaning?: string;
}

const rule = (r: NumberRule): NumberRule => Object.freeze(r);

/** The numeric fields of the engine, the command line and share links. */
export const NUMBER_RULES = Object.freeze({
  // Above a few thousand, multiplicative attention overflows float32 in the softmax's
  // neighbourhood and the scores come out NaN; no explanation or steering needs more.
  factor: rule({ name: 'factor', min: 0, max: 1000, integer: false, meaning: '0.1 suppresses, 1 leaves alone, above 1 amplifies' }),
  steerFactor: rule({ name: 'steering factor', min: 0, max: 1000, integer: false, meaning: '0 ignores, between 0 and 1 weakens, above 1 amplifies' }),
  kappa: rule({ name: 'kappa', min: 0, max: 1, integer: false, meaning: 'the conceptual-suppression threshold; or off' }),
  removalFactor: rule({ name: 'removal factor', min: 0, max: 1, maxExclusive: true, integer: false, meaning: '0 removes a unit fully' }),
  batchSize: rule({ name: 'batch size', min: 1, max: 1024, integer: true, meaning: 'passes run together' }),
  steps: rule({ name: 'integration steps', min: 1, max: 1000, integer: true, meaning: 'Gauss–Legendre nodes of integrated gradients' }),
  memoryBudgetBytes: rule({ name: 'memory budget', min: 1, max: 2 ** 40, integer: true, meaning: 'bytes one batch may use' }),
  generate: rule({ name: 'number of tokens to generate', min: 1, max: 4096, integer: true }),
  maxNewTokens: rule({ name: 'number of new tokens', min: 1, max: 4096, integer: true }),
  layer: rule({ name: 'layer index', min: 0, max: 9999, integer: true }),
  randomRuns: rule({ name: 'number of random rankings', min: 0, max: 100, integer: true }),
  seed: rule({ name: 'seed', min: -(2 ** 31), max: 2 ** 31 - 1, integer: true }),
  pixel: rule({ name: 'pixel coordinate', min: 0, max: 1_000_000, integer: false }),
  offset: rule({ name: 'character offset', min: 0, max: 10_000_000, integer: true }),
  position: rule({ name: 'token position', min: 0, max: 1_000_000, integer: true }),
});

export type NumberField = keyof typeof NUMBER_RULES;

/** "between 0 and 1000", "a whole number from 1 to 1024", "at least 0 and below 1". */
export function allowedRange(r: NumberRule): string {
  const fmt = (x: number) => (Math.abs(x) >= 1 << 20 && Number.isInteger(Math.log2(Math.abs(x))) ? `2^${Math.log2(Math.abs(x))}` : String(x));
  if (r.integer) return `a whole number from ${fmt(r.min)} to ${fmt(r.max)}`;
  return r.maxExclusive ? `a number at least ${fmt(r.min)} and below ${fmt(r.max)}` : `a number from ${fmt(r.min)} to ${fmt(r.max)}`;
}

/** The sentence for a bad value of this field; `shown` is the value as the user gave it, quoted if it was text. */
function sentence(r: NumberRule, shown: string, label?: string): string {
  const what = label ?? `The ${r.name}`;
  const cut = shown.length > 40 ? `${shown.slice(0, 39)}…` : shown;
  return `${what} must be ${allowedRange(r)}${r.meaning ? ` (${r.meaning})` : ''}; got ${cut === '""' ? 'nothing' : cut}.`;
}

/** Why `value` is not allowed for this field, or null when it is. Never throws. */
export function numberProblem(value: unknown, r: NumberRule, label?: string): string | null {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!r.integer || Number.isInteger(value)) &&
    value >= r.min &&
    (r.maxExclusive ? value < r.max : value <= r.max);
  if (ok) return null;
  let shown: string;
  try {
    shown = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = 'an unreadable value';
  }
  return sentence(r, shown, label);
}

/** The typed error for a bad value: BAD_SETTING, with the field and its range in `detail`. */
export function numberError(r: NumberRule, message: string): AtmanError {
  return new AtmanError('BAD_SETTING', message, { field: r.name, min: r.min, max: r.max, integer: r.integer });
}

/** `value` when this field allows it; throws AtmanError BAD_SETTING naming the field and its range. */
export function checkNumber(value: unknown, r: NumberRule, label?: string): number {
  const why = numberProblem(value, r, label);
  if (why !== null) throw numberError(r, why);
  return value as number;
}

/** checkNumber for an optional value: undefined stays undefined. */
export const checkOptionalNumber = (value: unknown, r: NumberRule, label?: string): number | undefined =>
  value === undefined ? undefined : checkNumber(value, r, label);

// Plain decimal only: no hex (0x10), binary, "Infinity", empty or blank strings, which Number()
// would all accept (Number("") is 0). An exponent is fine for real-valued fields.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const WHOLE = /^[+-]?\d+$/;

/** The number `text` spells in plain decimal (whole when `integer`), or NaN. Never throws. */
export function parseDecimal(text: string, integer = false): number {
  const t = text.trim();
  return (integer ? WHOLE : DECIMAL).test(t) ? Number(t) : NaN;
}

/**
 * A number typed as text (a command-line flag, a link field), read strictly and checked against
 * its field's rule. Throws AtmanError BAD_SETTING naming the field (or `label`) and its range,
 * quoting the text as typed.
 */
export function readNumber(text: string, r: NumberRule, label?: string): number {
  const n = parseDecimal(text, r.integer);
  if (numberProblem(n, r) !== null) throw numberError(r, sentence(r, JSON.stringify(text), label));
  return n;
}

/** A comma-separated list of numbers of one field ("0,1,2"), each read strictly. */
export function readNumberList(text: string, r: NumberRule, label?: string): number[] {
  return text.split(',').map((part) => readNumber(part, r, label));
}

/** The batch size and memory budget a run may be given (the engine picks both when they are absent). */
export function checkRunNumbers(o: { batchSize?: unknown; memoryBudgetBytes?: unknown }): void {
  checkOptionalNumber(o.batchSize, NUMBER_RULES.batchSize);
  checkOptionalNumber(o.memoryBudgetBytes, NUMBER_RULES.memoryBudgetBytes);
}
