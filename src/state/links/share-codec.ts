// The one module that reads and writes the page URL. A share link is the hash
//   #v=1&model=bundled:atman-demo-facts&prompt=…&target=…&mode=…&factor=…&kappa=…&gran=…&…&chat=on&x=<scores>
// readable fields for what a person might edit by hand, and `x`: the computed explanation as
// JSON, deflate-raw compressed and base64url encoded. Decoding checks every field on its own,
// falls back to the default for each bad one and lists the problems in words; it never throws
// and never returns markup (text only, which React renders as text).
import type { ExplainSettings, Granularity } from '../../core/types';
import type { BackendChoice, Explanation } from '../../protocol/engine-api';
import type { Rect } from '../../core/image-regions';
import { type ImageView, LINK_IMAGE_TYPES, type LinkImageType, MAX_LINK_IMAGE_BYTES, sanitizeImageView, sanitizeRegions, sniffLinkImageType } from '../slices/image-slice';
import type { ModelChoice } from '../model-catalog';
import { type FaithfulnessSummary, roundSummary, sanitizeFaithfulness } from '../faithfulness-summary';
import { MAX_STEER_TOKENS, type SteerRecord, type SteerUnitDraft, roundSteerRecord, sanitizeSteerRecord, sanitizeSteerUnits } from '../slices/steer-slice';
import { readStream } from '../../runtime/sources/model-source';
import { base64urlToBytes, bytesToBase64url } from '../base64';
import { MAX_HASH_CHARS, boundedParams, boundedProblems, parseLinkJson } from './link-limits';
import { NUMBER_RULES, numberProblem, parseDecimal } from '../../core/numbers';
import { COMPARE_VIEW_KEYS, compareViewParams, decodeCompareView } from './compare-view-link';
import type { SharedState, SharedFaithfulness, SharedSteer, SharedImage, DecodedShare } from '../slices/app-state';
import { LIMITS, type Problems, sanitizeBackend, sanitizeExplanation, sanitizeImageUrl, sanitizeModelChoice, sanitizeSettings, sanitizeText } from '../sanitize';

export { base64urlToBytes, bytesToBase64url } from '../base64';
export type { SharedState, SharedFaithfulness, SharedSteer, SharedImage, DecodedShare } from '../slices/app-state';

const IMAGE_KEYS = ['img', 'imgt', 'imgw', 'imgh', 'imgurl', 'iop', 'ifr', 'irg'];

export const SHARE_VERSION = 1;
export { MAX_HASH_CHARS };
/** Decompressed explanation JSON; guards against a deflate bomb. */
const MAX_INFLATED_BYTES = 4 * 2 ** 20;

async function pump(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const out = await readStream(stream, limit);
  if (!out) throw new Error('too large');
  return out;
}

function through(bytes: Uint8Array, t: CompressionStream | DecompressionStream): ReadableStream<Uint8Array> {
  const w = t.writable.getWriter();
  // Errors surface on the readable side; these promises would otherwise go unhandled.
  w.write(bytes as Uint8Array<ArrayBuffer>).catch(() => {});
  w.close().catch(() => {});
  return t.readable as ReadableStream<Uint8Array>;
}

export async function deflateText(text: string): Promise<string> {
  const bytes = await pump(through(new TextEncoder().encode(text), new CompressionStream('deflate-raw')), Infinity);
  return bytesToBase64url(bytes);
}

/** null when the payload is not base64url, not deflate-raw, not UTF-8 or too large */
export async function inflateText(b64: string): Promise<string | null> {
  const bytes = base64urlToBytes(b64);
  if (!bytes) return null;
  try {
    const out = await pump(through(bytes, new DecompressionStream('deflate-raw')), MAX_INFLATED_BYTES);
    return new TextDecoder('utf-8', { fatal: true }).decode(out);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- fields

function encodeModelChoice(m: ModelChoice): string {
  switch (m.kind) {
    case 'bundled':
    case 'fixture':
      return `${m.kind}:${m.id}`;
    case 'hub':
      return `hub:${m.repo}`;
    case 'url':
      return `url:${m.url}`;
    case 'folder':
      return `folder:${m.name}`;
  }
}

function decodeModelChoice(s: string, dtype: string | null): unknown {
  const colon = s.indexOf(':');
  if (colon < 0) return { kind: s };
  const kind = s.slice(0, colon);
  const rest = s.slice(colon + 1);
  if (kind === 'hub') return dtype === null ? { kind, repo: rest } : { kind, repo: rest, dtype };
  if (kind === 'url') return { kind, url: rest };
  if (kind === 'folder') return { kind, name: rest };
  return { kind, id: rest };
}

function encodeGranularity(g: Granularity, p: URLSearchParams): void {
  p.set('gran', g.kind);
  if (g.kind === 'delimiter') p.set('delim', g.delimiter);
  if (g.kind === 'chunks') p.set('chunks', g.chunks.map(([a, b]) => `${a}-${b}`).join(','));
}

/** Raw (unvalidated) settings object from the link's fields; sanitizeSettings judges it. */
function settingsFromParams(p: URLSearchParams, problems: Problems): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const num = (key: string, name: string): number | undefined => {
    const v = p.get(key);
    if (v === null) return undefined;
    // Plain decimal only: Number() would read "" as 0 and "0x10" as 16.
    const n = parseDecimal(v);
    if (!Number.isFinite(n)) {
      problems.push(`The ${name} ${JSON.stringify(v.slice(0, 20))} is not a number; using the default.`);
      return undefined;
    }
    return n;
  };
  if (p.has('mode')) raw.mode = p.get('mode');
  const factor = num('factor', 'factor');
  if (factor !== undefined) raw.factor = factor;
  if (p.has('kappa')) {
    if (p.get('kappa') === 'off') raw.kappa = null;
    else {
      const k = num('kappa', 'kappa');
      if (k !== undefined) raw.kappa = k;
    }
  }
  const gran = p.get('gran');
  if (gran !== null) {
    if (gran === 'delimiter') raw.granularity = { kind: gran, delimiter: p.get('delim') ?? '' };
    else if (gran === 'chunks') {
      const chunks = (p.get('chunks') ?? '').split(',').map((c) => c.split('-').map((x) => (/^\d{1,7}$/.test(x) ? Number(x) : NaN)));
      raw.granularity = { kind: gran, chunks };
    } else raw.granularity = { kind: gran };
  }
  if (p.has('tgran')) raw.targetGranularity = p.get('tgran');
  if (p.has('post')) raw.postprocess = p.get('post');
  if (p.has('overlap')) raw.tokenOverlap = p.get('overlap');
  if (p.has('chat')) {
    const chat = p.get('chat');
    // anything but on/off goes to validation as it is, which refuses it in words
    raw.chat = chat === 'on' ? true : chat === 'off' ? false : chat;
  }
  // absent = drill-down off; validation judges the number and its fit with the granularity
  const drill = num('drill', 'drill-down count');
  if (drill !== undefined) raw.drillDown = { top: drill };
  const layers = p.get('layers');
  if (layers !== null) {
    if (layers === 'all') raw.layers = null;
    else if (layers.length > 2000) problems.push('The layer list is too long; using all layers.');
    else raw.layers = layers.split(',').map((x) => (/^\d{1,4}$/.test(x) ? Number(x) : x));
  }
  return raw;
}

// ---------------------------------------------------------------- encode / decode

/** The hash for a state, e.g. "#v=1&model=…". Without the explanation unless it is given. */
export async function encodeShare(s: Omit<SharedState, 'explanation'> & { explanation?: Explanation | null }): Promise<string> {
  const p = inputParams(s);
  if (s.explanation) p.set('x', await deflateText(JSON.stringify(s.explanation)));
  await analysisParams(s, p);
  return hashOf(p);
}

/** The hash for the inputs only; synchronous, so it can be written while the page unloads. */
export const encodeInputs = (s: Omit<SharedState, 'explanation'>): string => hashOf(inputParams(s));

// URLSearchParams writes spaces as '+'; %20 reads better in a pasted link and decodes the same.
const hashOf = (p: URLSearchParams): string => `#${p.toString().replace(/\+/g, '%20')}`;

function inputParams(s: Omit<SharedState, 'explanation'>): URLSearchParams {
  const p = new URLSearchParams();
  p.set('v', String(SHARE_VERSION));
  p.set('model', encodeModelChoice(s.model));
  if (s.model.kind === 'hub' && s.model.dtype) p.set('dtype', s.model.dtype);
  p.set('backend', s.backend);
  p.set('prompt', s.prompt);
  p.set('target', s.target);
  const st = s.settings;
  p.set('mode', st.mode);
  p.set('factor', String(st.factor));
  p.set('kappa', st.kappa === null ? 'off' : String(st.kappa));
  encodeGranularity(st.granularity, p);
  p.set('tgran', st.targetGranularity);
  p.set('post', st.postprocess);
  p.set('layers', st.layers === null ? 'all' : st.layers.join(','));
  p.set('overlap', st.tokenOverlap);
  p.set('chat', st.chat ? 'on' : 'off');
  if (st.drillDown) p.set('drill', String(st.drillDown.top));
  imageParams(s, p);
  return p;
}

const IMAGE_TYPE_NAMES: Record<LinkImageType, string> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/webp': 'webp', 'image/gif': 'gif' };

function imageParams(s: Omit<SharedState, 'explanation'>, p: URLSearchParams): void {
  const im = s.image;
  if (im?.kind === 'data') {
    p.set('imgt', IMAGE_TYPE_NAMES[im.type]);
    p.set('imgw', String(im.width));
    p.set('imgh', String(im.height));
    p.set('img', im.data);
  } else if (im?.kind === 'url') p.set('imgurl', im.url);
  if (!im) return;
  if (s.imageView) {
    p.set('iop', String(s.imageView.opacity));
    p.set('ifr', s.imageView.frames);
  }
  if (s.imageRegions?.length) {
    const q = (v: number) => String(Math.round(v * 100) / 100);
    p.set('irg', s.imageRegions.map((r) => [r.left, r.top, r.width, r.height].map(q).join(',')).join(';'));
  }
}

/** The picture fields of a link, each checked on its own. */
function decodeImageParams(p: URLSearchParams, problems: Problems, state: Partial<SharedState>): void {
  const data = p.get('img');
  const url = p.get('imgurl');
  if (data !== null) {
    const bytes = data.length <= Math.ceil((MAX_LINK_IMAGE_BYTES * 4) / 3) + 4 ? base64urlToBytes(data) : null;
    const type = bytes ? sniffLinkImageType(bytes) : null;
    const dim = (k: string) => {
      const v = p.get(k);
      return v !== null && /^\d{1,6}$/.test(v) && Number(v) > 0 ? Number(v) : null;
    };
    const [width, height] = [dim('imgw'), dim('imgh')];
    if (!bytes) problems.push('The image in this link is damaged or too large; it was left out.');
    else if (!type) problems.push(`The image in this link is not a ${LINK_IMAGE_TYPES.map((t) => IMAGE_TYPE_NAMES[t].toUpperCase()).join(', ')} picture; it was left out.`);
    else if (width === null || height === null) problems.push('The image size in this link is unreadable; the image was left out.');
    else state.image = { kind: 'data', type, data, width, height };
  } else if (url !== null) {
    const ok = sanitizeImageUrl(url, problems);
    if (ok) state.image = { kind: 'url', url: ok };
  }
  if (!state.image) return;
  const view: Record<string, unknown> = {};
  if (p.has('iop')) view.opacity = parseDecimal(p.get('iop')!);
  if (p.has('ifr')) view.frames = p.get('ifr');
  if (p.has('iop') || p.has('ifr')) state.imageView = sanitizeImageView(view, problems);
  const rg = p.get('irg');
  if (rg !== null) {
    const raw = rg.length > 2000 ? null : rg.split(';').map((r) => r.split(',').map((x) => (/^\d{1,7}(\.\d{1,4})?$/.test(x) ? Number(x) : NaN)));
    state.imageRegions = sanitizeRegions(raw?.map(([left, top, width, height]) => ({ left, top, width, height })) ?? 'unreadable', problems);
  }
}

// ---------------------------------------------------------------- comparison, faithfulness, steering
// Each as compressed JSON of its own field: `cx` the comparison, `fa` the measurements (numbers and
// curve points rounded to 4 decimals), `st` the steered parts and generation.

const ANALYSIS_KEYS = ['cx', 'fa', 'st', ...COMPARE_VIEW_KEYS];

async function analysisParams(s: Partial<SharedState>, p: URLSearchParams): Promise<void> {
  if (s.comparison) p.set('cx', await deflateText(JSON.stringify(s.comparison)));
  if (s.comparison && s.compareView) compareViewParams(s.compareView, p);
  const f = s.faithfulness;
  if (f && (f.primary || f.comparison)) {
    p.set('fa', await deflateText(JSON.stringify({ primary: f.primary && roundSummary(f.primary), comparison: f.comparison && roundSummary(f.comparison) })));
  }
  const st = s.steer;
  if (st && (st.units.length > 0 || st.result)) {
    p.set('st', await deflateText(JSON.stringify({ units: st.units, maxNewTokens: st.maxNewTokens, result: st.result && roundSteerRecord(st.result) })));
  }
}

/** Compressed JSON from a link field; undefined (with a problem) when damaged. */
async function inflateJson(b64: string, what: string, problems: Problems): Promise<unknown> {
  const json = await inflateText(b64);
  if (json !== null) {
    try {
      return parseLinkJson(json);
    } catch {
      // reported below
    }
  }
  problems.push(`The ${what} in this link is damaged; it was left out.`);
  return undefined;
}

async function decodeAnalysisParams(p: URLSearchParams, problems: Problems, state: Partial<SharedState>): Promise<void> {
  const cx = p.get('cx');
  if (cx !== null) {
    const v = await inflateJson(cx, 'comparison', problems);
    const comparison = v === undefined ? null : sanitizeExplanation(v, problems);
    if (comparison) state.comparison = comparison;
  }
  const view = decodeCompareView(p, problems);
  if (view && state.comparison) state.compareView = view;
  const fa = p.get('fa');
  if (fa !== null) {
    const v = await inflateJson(fa, 'faithfulness measurement', problems);
    if (v !== undefined) {
      const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
      const primary = sanitizeFaithfulness(o.primary, problems);
      const comparison = sanitizeFaithfulness(o.comparison, problems, "comparison's faithfulness measurement");
      if (primary || comparison) state.faithfulness = { primary, comparison };
    }
  }
  const st = p.get('st');
  if (st !== null) {
    const v = await inflateJson(st, 'steering', problems);
    if (v !== undefined) {
      const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
      const n = o.maxNewTokens;
      const okN = Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_STEER_TOKENS;
      if (!okN) problems.push(`The number of tokens to steer must be a whole number from 1 to ${MAX_STEER_TOKENS}; using 8.`);
      state.steer = { units: sanitizeSteerUnits(o.units, problems), maxNewTokens: okN ? (n as number) : 8, result: sanitizeSteerRecord(o.result, problems) };
    }
  }
}

const EMPTY = (problems: string[]): DecodedShare => ({ state: {}, problems });

/** Reads a hash ("#v=1&…" or without '#'). An empty hash is no link at all: no problems. */
export async function decodeShare(hash: string, opts: { allowFixtures?: boolean } = {}): Promise<DecodedShare> {
  try {
    return await decodeUnsafe(hash, opts);
  } catch (e) {
    // Belt and braces: the checks above should make this unreachable.
    return EMPTY(boundedProblems([`This link could not be read (${String((e as Error)?.message ?? 'unknown error')}); showing the default page.`]));
  }
}

/** decodeShare without its safety net; exported for the tests that prove the net is never needed. */
export async function decodeUnsafe(hash: string, opts: { allowFixtures?: boolean }): Promise<DecodedShare> {
  const d = await decodeFields(hash, opts);
  // Notices quote the link: each is cut short, and there are never many.
  return { state: d.state, problems: boundedProblems(d.problems) };
}

async function decodeFields(hash: string, opts: { allowFixtures?: boolean }): Promise<DecodedShare> {
  const text = typeof hash === 'string' ? hash.replace(/^#/, '') : '';
  if (text === '') return EMPTY([]);
  if (text.length > MAX_HASH_CHARS) return EMPTY([`This link is too long to be a share link (${text.length} characters); showing the default page.`]);
  const problems: string[] = [];
  // Every field bounded before anything reads it (link-limits.ts).
  const p = boundedParams(new URLSearchParams(text), problems);
  const v = p.get('v');
  if (v === null) return EMPTY(['This link is not an AtMan share link (it has no version field); showing the default page.']);
  if (v !== String(SHARE_VERSION)) {
    return EMPTY([`This link was made by another version of the playground (v=${JSON.stringify(v.slice(0, 10))}, this one reads v=${SHARE_VERSION}); showing the default page.`]);
  }
  const state: Partial<SharedState> = {};
  const model = p.get('model');
  if (model !== null) state.model = sanitizeModelChoice(decodeModelChoice(model, p.get('dtype')), problems, opts);
  if (p.has('backend')) state.backend = sanitizeBackend(p.get('backend'), problems);
  if (p.has('prompt')) {
    const prompt = sanitizeText(p.get('prompt'), 'prompt', LIMITS.prompt, '', problems);
    if (prompt !== '') state.prompt = prompt;
  }
  if (p.has('target')) {
    const target = sanitizeText(p.get('target'), 'target', LIMITS.target, '', problems);
    if (target !== '') state.target = target;
  }
  state.settings = sanitizeSettings(settingsFromParams(p, problems), problems);
  const x = p.get('x');
  if (x !== null) {
    const json = await inflateText(x);
    if (json === null) problems.push('The scores in this link are damaged (not valid compressed data); click Explain to compute them.');
    else {
      let parsed: unknown;
      try {
        parsed = parseLinkJson(json);
      } catch {
        problems.push('The scores in this link are damaged (not JSON); click Explain to compute them.');
      }
      if (parsed !== undefined) {
        const explanation = sanitizeExplanation(parsed, problems);
        if (explanation) state.explanation = explanation;
      }
    }
  }
  decodeImageParams(p, problems, state);
  await decodeAnalysisParams(p, problems, state);
  const known = new Set(['v', 'model', 'dtype', 'backend', 'prompt', 'target', 'mode', 'factor', 'kappa', 'gran', 'delim', 'chunks', 'tgran', 'post', 'layers', 'overlap', 'chat', 'drill', 'x', ...IMAGE_KEYS, ...ANALYSIS_KEYS]);
  const unknown = [...new Set(p.keys())].filter((k) => !known.has(k));
  if (unknown.length) problems.push(`Unknown link fields were ignored: ${unknown.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 20))).join(', ')}.`);
  return { state, problems };
}

// ---------------------------------------------------------------- the page URL

export const readLocationHash = (): string => (typeof location === 'undefined' ? '' : location.hash);

/** Rewrites the hash in place: no new history entry per keystroke. */
export function replaceLocationHash(hash: string): void {
  if (typeof location === 'undefined' || location.hash === hash) return;
  try {
    history.replaceState(history.state, '', `${location.pathname}${location.search}${hash}`);
  } catch {
    // Safari refuses more than ~100 replaceState calls in 30 s; the next change writes it again.
  }
}

/** The full address of this page with the given hash. */
export const shareUrl = (hash: string): string => `${location.origin}${location.pathname}${hash}`;

/** Test-only: `?batch=N` forces N passes per batch (so a cancel lands midway through a short run). */
export function readBatchOverride(): number | undefined {
  if (typeof location === 'undefined') return undefined;
  const n = parseDecimal(new URLSearchParams(location.search).get('batch') ?? '', true);
  return numberProblem(n, NUMBER_RULES.batchSize) === null ? n : undefined;
}

/** Test-only: `?test` exposes hooks on window (crash the worker) for the browser tests. */
export function readTestHooksFlag(): boolean {
  return typeof location !== 'undefined' && new URLSearchParams(location.search).has('test');
}
