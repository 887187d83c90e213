// Bounds on what a share link may carry, applied before any field is read, and the two rules
// for everything decoded from one: its keys are never trusted (no object read from a link
// inherits from Object.prototype, and `__proto__`, `constructor`, `prototype` keys are dropped
// without costing the rest), and nothing it says is echoed back at length (notices are short).
import { MAX_LINK_IMAGE_BYTES } from '../slices/image-slice';
import { MAX_ADDRESS_CHARS } from '../link-targets';
import { LIMITS, type Problems } from '../sanitize';

/** Links longer than this are not worth decoding (browsers and chat apps cut them anyway). */
export const MAX_HASH_CHARS = 512 * 1024;
/** A notice that quotes a link is cut to this many characters. */
export const MAX_NOTICE_CHARS = 300;
/** At most this many notices come out of one link. */
export const MAX_NOTICES = 20;
/** Distinct field names a link may have; more is not a link this app wrote. */
export const MAX_FIELDS = 64;
/** Any field not listed in FIELD_BOUNDS (one added later, or an unknown one). */
export const DEFAULT_FIELD_CHARS = 2_000;

/** Picture bytes inline in a link, as base64url. */
export const MAX_LINK_IMAGE_CHARS = Math.ceil((MAX_LINK_IMAGE_BYTES * 4) / 3) + 4;
// The codec checks the picture's exact size itself (and says "too large" in its own words); this
// outer bound only stops absurd values before anything reads them.
const IMAGE_FIELD_CHARS = 64 * 1024;

/**
 * Characters each field may have after percent-decoding; a longer one is dropped with a notice
 * (and its field falls back to its default). The compressed fields (scores, comparison,
 * measurements, steering) are bounded by the hash as a whole and by the inflate limit.
 */
export const FIELD_BOUNDS: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, {
    v: 8,
    model: LIMITS.modelText + 10,
    dtype: 20,
    backend: 10,
    prompt: LIMITS.prompt,
    target: LIMITS.target,
    mode: 40,
    factor: 40,
    kappa: 40,
    gran: 20,
    delim: LIMITS.delimiter,
    chunks: 20_000,
    tgran: 20,
    post: 20,
    layers: 2_000,
    overlap: 20,
    drill: 8,
    img: IMAGE_FIELD_CHARS,
    imgt: 10,
    imgw: 10,
    imgh: 10,
    imgurl: MAX_ADDRESS_CHARS,
    iop: 40,
    ifr: 20,
    irg: 2_000,
    x: MAX_HASH_CHARS,
    cx: MAX_HASH_CHARS,
    fa: MAX_HASH_CHARS,
    st: MAX_HASH_CHARS,
    cscale: 10,
    catt: 2_500,
    csteps: 8,
  }),
);

const FIELD_NAMES: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  prompt: 'prompt',
  target: 'target',
  delim: 'delimiter',
  model: 'model',
  imgurl: 'image address',
});

export const fieldBound = (key: string): number => FIELD_BOUNDS[key] ?? DEFAULT_FIELD_CHARS;

/** Text cut to `max` characters (an ellipsis marks the cut), for echoing a link back in words. */
export function shorten(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, Math.max(0, max - 1))}…` : s;
}

/**
 * The link's fields with every over-long value dropped (with a notice each), and no more than
 * MAX_FIELDS distinct names. Later code reads the result exactly as it would the original.
 */
export function boundedParams(p: URLSearchParams, problems: Problems): URLSearchParams {
  const out = new URLSearchParams();
  const names = new Set<string>();
  let extraNames = 0;
  for (const [key, value] of p) {
    if (!names.has(key)) {
      if (names.size >= MAX_FIELDS) {
        extraNames++;
        continue;
      }
      names.add(key);
    }
    const max = fieldBound(key);
    if (value.length > max) {
      const name = FIELD_NAMES[key] ?? `link field ${JSON.stringify(shorten(key, 20))}`;
      problems.push(`The ${name} is longer than ${max} characters; using the default.`);
      continue;
    }
    out.append(key, value);
  }
  if (extraNames > 0) problems.push(`This link has more than ${MAX_FIELDS} fields; the last ${extraNames} were ignored.`);
  return out;
}

/** The notices of one link, each short and at most MAX_NOTICES of them. */
export function boundedProblems(problems: readonly string[]): string[] {
  const out = problems.slice(0, MAX_NOTICES).map((p) => shorten(String(p), MAX_NOTICE_CHARS));
  if (problems.length > MAX_NOTICES) out.push(`…and ${problems.length - MAX_NOTICES} more problems with this link.`);
  return out;
}

// ---------------------------------------------------------------- keys of decoded objects

const UNTRUSTED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Keys that can reach or replace an object's prototype; dropped wherever a link's object is read. */
export const isUntrustedKey = (key: string): boolean => UNTRUSTED_KEYS.has(key);

/**
 * JSON.parse, where every object comes out without a prototype and without `__proto__`,
 * `constructor` and `prototype` keys; throws what JSON.parse throws.
 */
export function parseLinkJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? plainCopy(value as Record<string, unknown>) : value));
}

function plainCopy(o: Record<string, unknown>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!isUntrustedKey(k)) out[k] = o[k];
  return out;
}
