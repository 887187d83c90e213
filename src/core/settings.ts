// Settings arrive from the UI, the URL and the CLI; every bad value is refused here with a sentence
// the user can act on, so the runtime never sees one.

import { AtmanError } from './errors';
import { checkDrillDown, drillLevels } from './drill-down';
import { NUMBER_RULES, checkNumber, readNumber } from './numbers';
import { DEFAULT_SETTINGS, OPTIONAL_SETTING_KEYS, type ExplainSettings, type Granularity } from './types';

const MODES = ['multiplicative', 'log-additive'] as const;
const TARGET_GRANULARITIES = ['complete', 'token'] as const;
const POSTPROCESS = ['none', 'absolute', 'square'] as const;
const OVERLAPS = ['complete', 'partial'] as const;
const GRANULARITY_KINDS = ['token', 'word', 'sentence', 'paragraph', 'delimiter', 'chunks'] as const;

const bad = (message: string): never => {
  throw new AtmanError('BAD_SETTING', message);
};

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    bad(`Unknown ${name} ${JSON.stringify(value)}; use one of ${allowed.join(', ')}.`);
  }
  return value as T;
}

/** Merges partial settings over DEFAULT_SETTINGS and checks every field; throws AtmanError BAD_SETTING. */
export function validateSettings(partial: Partial<ExplainSettings> = {}): ExplainSettings {
  for (const key of Object.keys(partial)) {
    if (!(key in DEFAULT_SETTINGS) && !OPTIONAL_SETTING_KEYS.includes(key)) bad(`Unknown setting "${key}".`);
  }
  const pick = <K extends keyof ExplainSettings>(k: K): ExplainSettings[K] =>
    partial[k] === undefined ? DEFAULT_SETTINGS[k] : (partial[k] as ExplainSettings[K]);

  const factor = checkNumber(pick('factor'), NUMBER_RULES.factor);

  const kappa = pick('kappa');
  if (kappa !== null) checkNumber(kappa, NUMBER_RULES.kappa);

  const layers = pick('layers');
  if (layers !== null) {
    if (!Array.isArray(layers) || layers.length === 0) bad('layers must list at least one layer index, or be null for all layers.');
    for (const l of layers) checkNumber(l, NUMBER_RULES.layer);
    if (new Set(layers).size !== layers.length) bad(`layers lists a layer twice: ${layers.join(', ')}.`);
  }

  const chat = pick('chat');
  if (typeof chat !== 'boolean') bad(`chat must be true (use the model's chat template when it has one) or false (raw text); got ${JSON.stringify(chat)}.`);

  const granularity = checkGranularity(pick('granularity'));
  // Absent and undefined both mean off, so settings without it compare equal to the defaults.
  const drillDown = partial.drillDown === undefined ? undefined : checkDrillDown(partial.drillDown);
  if (drillDown) drillLevels(granularity);

  return {
    mode: oneOf('mode', pick('mode'), MODES),
    factor,
    kappa,
    granularity,
    targetGranularity: oneOf('target granularity', pick('targetGranularity'), TARGET_GRANULARITIES),
    postprocess: oneOf('post-processing', pick('postprocess'), POSTPROCESS),
    layers: layers === null ? null : [...layers],
    tokenOverlap: oneOf('token overlap', pick('tokenOverlap'), OVERLAPS),
    chat,
    ...(drillDown ? { drillDown } : {}),
  };
}

function checkGranularity(g: Granularity): Granularity {
  if (typeof g !== 'object' || g === null) bad(`The granularity must be an object with a kind; got ${JSON.stringify(g)}.`);
  const kind = oneOf('granularity', g.kind, GRANULARITY_KINDS);
  if (g.kind === 'delimiter') {
    if (typeof g.delimiter !== 'string' || g.delimiter === '') bad('The delimiter must be a non-empty string.');
    return { kind: 'delimiter', delimiter: g.delimiter };
  }
  if (g.kind === 'chunks') {
    if (!Array.isArray(g.chunks) || g.chunks.length === 0) bad('Pick at least one chunk of the prompt.');
    let prevEnd = 0;
    const chunks = g.chunks.map((c, i): [number, number] => {
      const [a, b] = Array.isArray(c) ? c : [NaN, NaN];
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0) {
        bad(`Chunk ${i + 1} must be a pair of whole character offsets >= 0; got ${JSON.stringify(c)}.`);
      }
      if (b <= a) bad(`Chunk ${i + 1} [${a}, ${b}) is empty: its end must come after its start.`);
      if (a < prevEnd) bad(`Chunk ${i + 1} [${a}, ${b}) overlaps or comes before the chunk before it; list chunks in text order without overlaps.`);
      prevEnd = b;
      return [a, b];
    });
    return { kind: 'chunks', chunks };
  }
  return { kind } as Granularity;
}

/** Throws EMPTY_PROMPT / EMPTY_TARGET when either text is empty or only whitespace. */
export function validateTexts(prompt: string, target: string): void {
  if (typeof prompt !== 'string' || prompt.trim() === '') {
    throw new AtmanError('EMPTY_PROMPT', 'The prompt is empty; type the text the model should read.');
  }
  if (typeof target !== 'string' || target.trim() === '') {
    throw new AtmanError('EMPTY_TARGET', 'The target is empty; type or generate the completion to explain.');
  }
}

/**
 * Parses a CLI granularity: token | word | sentence | paragraph | delimiter:X | chunks:A-B,C-D.
 * X may itself contain ':'; the escapes \n, \t, \r and \\ are understood.
 */
export function parseGranularity(s: string): Granularity {
  const colon = s.indexOf(':');
  const kind = (colon < 0 ? s : s.slice(0, colon)).trim().toLowerCase();
  const arg = colon < 0 ? undefined : s.slice(colon + 1);
  if (kind === 'delimiter') {
    const delimiter = (arg ?? '').replace(/\\([ntr\\])/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);
    if (delimiter === '') bad('Give the delimiter after a colon, e.g. delimiter:; or delimiter:\\n.');
    return { kind: 'delimiter', delimiter };
  }
  if (kind === 'chunks') {
    const chunks = (arg ?? '').split(',').map((part): [number, number] => {
      const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
      if (!m) return bad(`Cannot read chunk "${part}"; write chunks as start-end character offsets, e.g. chunks:0-12,20-31.`);
      return [readNumber(m[1]!, NUMBER_RULES.offset, 'A chunk start'), readNumber(m[2]!, NUMBER_RULES.offset, 'A chunk end')];
    });
    return checkGranularity({ kind: 'chunks', chunks });
  }
  if (arg === undefined && (kind === 'token' || kind === 'word' || kind === 'sentence' || kind === 'paragraph')) {
    return { kind };
  }
  return bad(`Unknown granularity "${s}"; use token, word, sentence, paragraph, delimiter:X or chunks:A-B,C-D.`);
}
