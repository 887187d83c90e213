// Field-by-field checks for everything that comes from outside the running page (a shared
// link, localStorage): each bad field falls back to its default and adds a problem in words;
// nothing here throws. The engine's own validateSettings is the authority on settings.
import { DRILL_LEVELS, canDrillFrom } from '../core/drill-down';
import { validateSettings } from '../core/settings';
import { DEFAULT_SETTINGS, OPTIONAL_SETTING_KEYS, type ExplainSettings } from '../core/types';
import { NUMBER_RULES, numberProblem } from '../core/numbers';
import type { BackendChoice, Explanation } from '../protocol/engine-api';
import type { Rect } from '../core/image-regions';
import { DTYPES, type ModelDtype } from '../runtime/model/dtypes';
import { resolveAddress } from './link-targets';
import { DEFAULT_MODEL, HUB_ID, type ModelChoice, isBundled, isFixture } from './model-catalog';

export const LIMITS = {
  prompt: 20_000,
  target: 2_000,
  modelText: 300,
  delimiter: 20,
  tokens: 4_096,
  units: 4_096,
  generate: 200,
};

export type Problems = string[];

export const quote = (v: unknown): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
};

export function sanitizeText(v: unknown, name: string, max: number, fallback: string, problems: Problems): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string') {
    problems.push(`The ${name} is not text; using the default.`);
    return fallback;
  }
  if (v.length > max) {
    problems.push(`The ${name} is longer than ${max} characters; using the default.`);
    return fallback;
  }
  return v;
}

/** Settings merged over the defaults one field at a time, so one bad field does not cost the others. */
export function sanitizeSettings(v: unknown, problems: Problems): ExplainSettings {
  if (v === undefined) return structuredClone(DEFAULT_SETTINGS);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.push('The settings are not readable; using the defaults.');
    return structuredClone(DEFAULT_SETTINGS);
  }
  const good: Partial<ExplainSettings> = {};
  // Own keys only: `"__proto__" in {}` is true, and a link's `__proto__` or `constructor` key must
  // read as an unknown setting, not as one of ours.
  for (const [key, value] of Object.entries(v)) {
    if (!Object.hasOwn(DEFAULT_SETTINGS, key) && !OPTIONAL_SETTING_KEYS.includes(key)) {
      problems.push(`Unknown setting ${quote(key)} was ignored.`);
      continue;
    }
    if (key === 'granularity' && (value as { kind?: unknown })?.kind === 'delimiter') {
      const d = (value as { delimiter?: unknown }).delimiter;
      if (typeof d === 'string' && d.length > LIMITS.delimiter) {
        problems.push(`The delimiter is longer than ${LIMITS.delimiter} characters; using the default granularity.`);
        continue;
      }
    }
    try {
      // A drill-down is judged on its own here and against the granularity below.
      validateSettings((key === 'drillDown' ? { drillDown: value, granularity: { kind: 'sentence' } } : { [key]: value }) as Partial<ExplainSettings>);
      (good as Record<string, unknown>)[key] = value;
    } catch (e) {
      // A value that is not even printable (an object without a prototype) fails while being described.
      const why = (e as { code?: unknown })?.code === 'BAD_SETTING' ? (e as Error).message : 'its value is not readable.';
      problems.push(`Setting ${key}: ${why} Using the default.`);
    }
  }
  if (good.drillDown && !canDrillFrom(good.granularity ?? DEFAULT_SETTINGS.granularity)) {
    problems.push(`Drill-down refines sentence, word or paragraph units; the granularity is ${(good.granularity ?? DEFAULT_SETTINGS.granularity).kind}, so drill-down is off.`);
    delete good.drillDown;
  }
  return validateSettings(good);
}

export function sanitizeBackend(v: unknown, problems: Problems): BackendChoice {
  if (v === undefined) return 'auto';
  if (v === 'auto' || v === 'webgpu' || v === 'wasm') return v;
  problems.push(`Unknown backend ${quote(v)}; using auto.`);
  return 'auto';
}

export function sanitizeModelChoice(v: unknown, problems: Problems, opts: { allowFixtures?: boolean } = {}): ModelChoice {
  const fallback = (why: string): ModelChoice => {
    problems.push(`${why} Using the demo model.`);
    return { ...DEFAULT_MODEL };
  };
  if (v === undefined) return { ...DEFAULT_MODEL };
  if (typeof v !== 'object' || v === null) return fallback('The model is not readable.');
  const c = v as Record<string, unknown>;
  const text = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= LIMITS.modelText;
  switch (c.kind) {
    case 'bundled':
      return text(c.id) && isBundled(c.id) ? { kind: 'bundled', id: c.id } : fallback(`There is no bundled model named ${quote(c.id)}.`);
    case 'fixture':
      if (text(c.id) && isFixture(c.id) && opts.allowFixtures !== false) return { kind: 'fixture', id: c.id };
      return fallback(`There is no test model named ${quote(c.id)} here.`);
    case 'hub': {
      if (!text(c.repo) || !HUB_ID.test(c.repo)) return fallback(`${quote(c.repo)} is not a Hugging Face model id (owner/name).`);
      // 'auto' (or no dtype): the engine picks the variant for the backend.
      if (c.dtype === 'auto') return { kind: 'hub', repo: c.repo };
      if (c.dtype !== undefined && !(DTYPES as readonly unknown[]).includes(c.dtype)) {
        problems.push(`Unknown model precision ${quote(c.dtype)}; choosing one automatically.`);
        return { kind: 'hub', repo: c.repo };
      }
      return c.dtype === undefined ? { kind: 'hub', repo: c.repo } : { kind: 'hub', repo: c.repo, dtype: c.dtype as ModelDtype };
    }
    case 'url':
      // Only web addresses and paths on this site: no javascript:, data: or blob: sources, and no
      // spelling the URL parser would turn into another host (see link-targets.ts).
      if (text(c.url) && resolveAddress(c.url) !== null) return { kind: 'url', url: c.url };
      return fallback(`${quote(c.url)} is not a model address (http(s):// or a path on this site).`);
    case 'folder':
      return fallback('The model was a folder on another computer (or from before a reload); open the folder again.');
    default:
      return fallback(`Unknown kind of model ${quote(c.kind)}.`);
  }
}

const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown, max = LIMITS.prompt): v is string => typeof v === 'string' && v.length <= max;
const numArray = (v: unknown, max: number): v is number[] => Array.isArray(v) && v.length <= max && v.every(isNum);

/**
 * An explanation from storage or a link, checked in shape (every field, every length) so the
 * results view can trust it. Returns null (with a problem) instead of a partly valid one.
 */
export function sanitizeExplanation(v: unknown, problems: Problems): Explanation | null {
  const why = explanationProblem(v);
  if (why !== null) {
    problems.push(`The saved result was dropped: ${why}.`);
    return null;
  }
  const x = v as Explanation;
  const settingProblems: Problems = [];
  const settings = sanitizeSettings(x.settings, settingProblems);
  if (settingProblems.length) {
    problems.push(`The saved result's settings are not readable (${settingProblems[0]}); it was dropped.`);
    return null;
  }
  // Rebuilt from the checked fields only: nothing unexpected rides along into the views.
  return {
    schemaVersion: x.schemaVersion,
    // absent = AtMan; the other methods say what their scores mean in `sign`
    ...(x.method !== undefined && x.method !== 'atman' ? { method: x.method } : {}),
    sign: x.sign,
    prompt: x.prompt,
    target: x.target,
    tokens: x.tokens.map((t) => ({ id: t.id, text: t.text, start: t.start, end: t.end, role: t.role, ...(t.special ? { special: true } : {}) })),
    units: x.units.map(copyUnit),
    ...(x.drillDown ? { drillDown: copyDrillDown(x.drillDown) } : {}),
    ...(x.image ? { image: copyImage(x.image) } : {}),
    baseline: { crossEntropy: [...x.baseline.crossEntropy] },
    settings,
    model: {
      id: x.model.id,
      dtype: x.model.dtype,
      backend: x.model.backend,
      device: x.model.device,
      file: x.model.file,
      ...(typeof x.model.dtypeReason === 'string' && x.model.dtypeReason.length <= 600 ? { dtypeReason: x.model.dtypeReason } : {}),
    },
    passes: x.passes,
    batchSize: x.batchSize,
    run: sanitizeRun((x as { run?: unknown }).run, x.batchSize),
    seconds: x.seconds,
  };
}

type RunReport = Explanation['run'];

/** How the passes ran: informational, so unreadable parts just read as unknown. */
function sanitizeRun(v: unknown, batchSize: number): RunReport {
  const r = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const n = (k: string, d = 0): number => (isNum(r[k]) ? (r[k] as number) : d);
  return {
    ...(isStr(r.attention, 500) ? { attention: r.attention as string } : {}),
    scoreHead: r.scoreHead === true,
    prefixReuse: isStr(r.prefixReuse, 500) ? r.prefixReuse : 'unknown',
    notes: Array.isArray(r.notes) ? r.notes.filter((s): s is string => isStr(s, 500)).slice(0, 20) : [],
    batches: n('batches'),
    batchSize: n('batchSize', batchSize),
    rowsComputed: n('rowsComputed'),
    rowsFullRecompute: n('rowsFullRecompute'),
    passesSkipped: n('passesSkipped'),
    ioPeakBytes: n('ioPeakBytes'),
    ...sanitizeRowCoupling(r.rowCoupling),
    ...sanitizeMemory(r.memory),
    ...(numberProblem(r.steps, NUMBER_RULES.steps) === null ? { steps: r.steps as number } : {}),
    ...sanitizeCompleteness(r.completeness),
    ...sanitizeLoad(r.load),
    ...(isNum(r.peakRssBytes) ? { peakRssBytes: r.peakRssBytes as number } : {}),
  };
}

/** An object's numeric fields `keys` (all present and finite), plus any of `optional` that are; else null. */
function numberFields<K extends string, O extends string = never>(v: unknown, keys: readonly K[], optional: readonly O[] = []): (Record<K, number> & Partial<Record<O, number>>) | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const own = (k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
  if (!keys.every((k) => isNum(own(k)))) return null;
  const out: Record<string, number> = {};
  for (const k of [...keys, ...optional]) if (isNum(own(k))) out[k] = own(k) as number;
  return out as Record<K, number> & Partial<Record<O, number>>;
}

function sanitizeMemory(v: unknown): Pick<RunReport, 'memory'> {
  const m = numberFields(v, ['budgetBytes', 'batchSize', 'estimateBytes', 'perItemBytes', 'fixedBytes'] as const);
  const chosenBy = (v as { chosenBy?: unknown } | null)?.chosenBy;
  if (!m || (chosenBy !== 'budget' && chosenBy !== 'given')) return {};
  return { memory: { ...m, chosenBy } };
}

/** Integrated gradients' completeness check: four numbers or nothing. */
function sanitizeCompleteness(v: unknown): Pick<RunReport, 'completeness'> {
  const c = numberFields(v, ['attributed', 'difference', 'gap', 'relativeGap'] as const);
  return c ? { completeness: c } : {};
}

/** The model's load, seconds per stage: all of them or nothing. */
function sanitizeLoad(v: unknown): Pick<RunReport, 'load'> {
  const l = numberFields(v, ['download', 'rewrite', 'session', 'selfCheck', 'couplingProbe', 'reference', 'total'] as const, ['peakRssBytes'] as const);
  return l ? { load: l } : {};
}

function sanitizeRowCoupling(v: unknown): Pick<RunReport, 'rowCoupling'> {
  const c = (typeof v === 'object' && v !== null ? v : null) as Record<string, unknown> | null;
  if (!c || !isStr(c.reason, 2000) || (c.handling !== 'exact' && c.handling !== 'dequantized')) return {};
  const d = (typeof c.deviation === 'object' && c.deviation !== null ? c.deviation : null) as Record<string, unknown> | null;
  const keys = ['passesCompared', 'baselineMaxAbsDiff', 'maxAbsScoreDiff', 'maxAbsScore', 'relative'] as const;
  const deviation = d && keys.every((k) => isNum(d[k])) ? (Object.fromEntries(keys.map((k) => [k, d[k]])) as Record<(typeof keys)[number], number>) : null;
  return { rowCoupling: { reason: c.reason, handling: c.handling, ...(deviation ? { deviation } : {}) } };
}

function explanationProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'it is not an object';
  const x = v as Record<string, unknown>;
  if (!isInt(x.schemaVersion, 1)) return 'no schema version';
  if (x.method !== undefined && !['atman', 'attention', 'rollout', 'occlusion-delete', 'occlusion-mask', 'input-x-gradient', 'integrated-gradients', 'chefer'].includes(x.method as string)) return 'its method is unknown';
  if (!isStr(x.sign, 1000) || !isStr(x.prompt, LIMITS.prompt) || !isStr(x.target, LIMITS.target)) return 'its texts are missing or too long';
  if (!Array.isArray(x.tokens) || x.tokens.length === 0 || x.tokens.length > LIMITS.tokens) return 'its tokens are missing or too many';
  const n = x.tokens.length;
  for (const t of x.tokens as unknown[]) {
    const tk = t as Record<string, unknown>;
    if (typeof t !== 'object' || t === null || !isInt(tk.id) || !isStr(tk.text, 1000) || !isInt(tk.start) || !isInt(tk.end) || (tk.role !== 'prompt' && tk.role !== 'target' && tk.role !== 'template')) {
      return 'a token is malformed';
    }
    if (tk.special !== undefined && typeof tk.special !== 'boolean') return 'a token is malformed';
  }
  const targets = (x.tokens as Array<{ role: string }>).filter((t) => t.role === 'target').length;
  if (targets === 0) return 'it has no target tokens';
  const imageWhy = x.image === undefined ? null : imageProblem(x.image);
  if (imageWhy !== null) return imageWhy;
  const image = x.image as ExplainedImage | undefined;
  // A captioner's image columns come after the sequence (see ExplainedImage.placement).
  const columns = n + (image?.placement === 'encoder' ? image.tokens.length : 0);
  if (!Array.isArray(x.units) || x.units.length === 0 || x.units.length > LIMITS.units) return 'its units are missing or too many';
  const drill = x.drillDown === undefined ? null : drillDownProblem(x.drillDown);
  if (drill !== null && typeof drill === 'string') return drill;
  // A drill-down's refined units carry their children, one level per step; nothing else has children.
  const depth = drill === null ? 0 : drill.levels - 1;
  let count = 0;
  const walk = (units: unknown[], level: number): string | null => {
    count += units.length;
    if (count > LIMITS.units) return 'its units are missing or too many';
    for (const u of units) {
      const why = unitProblem(u, columns, targets, image);
      if (why !== null) return why;
      const children = (u as Record<string, unknown>).children;
      if (children === undefined) continue;
      if (level >= depth || !Array.isArray(children) || children.length === 0) return 'a unit has children where none can be';
      const inner = walk(children, level + 1);
      if (inner !== null) return inner;
    }
    return null;
  };
  const unitsWhy = walk(x.units, 0);
  if (unitsWhy !== null) return unitsWhy;
  const b = x.baseline as Record<string, unknown> | null;
  if (typeof b !== 'object' || b === null || !numArray(b.crossEntropy, targets)) return 'its baseline is unreadable';
  const m = x.model as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null || !['id', 'dtype', 'backend', 'device', 'file'].every((k) => isStr(m[k], 300))) return 'its model facts are unreadable';
  if (!isInt(x.passes, 1) || !isInt(x.batchSize, 1) || !isNum(x.seconds)) return 'its run facts are unreadable';
  return null;
}

function unitProblem(u: unknown, columns: number, targets: number, image: ExplainedImage | undefined): string | null {
  const un = u as Record<string, unknown>;
  if (typeof u !== 'object' || u === null || !isStr(un.label, 2000) || !isNum(un.score)) return 'a unit is malformed';
  if (!Array.isArray(un.positions) || un.positions.length > columns || !un.positions.every((p) => isInt(p) && p < columns)) return 'a unit names positions outside the text';
  if (!numArray(un.perTarget, targets)) return 'a unit has unreadable per-token scores';
  if (!Array.isArray(un.factors) || un.factors.length > columns) return 'a unit has unreadable factors';
  for (const f of un.factors as unknown[]) {
    if (!Array.isArray(f) || f.length !== 2 || !isInt(f[0]) || f[0] >= columns || !isNum(f[1])) return 'a unit has unreadable factors';
  }
  return unitImageProblem(un, image);
}

/** The drill-down report's shape; returns its number of levels when it is readable. */
function drillDownProblem(v: unknown): string | { levels: number } {
  const bad = 'its drill-down report is unreadable';
  const d = v as Record<string, unknown> | null;
  if (typeof v !== 'object' || d === null || !isInt(d.top, 1) || !isInt(d.fullPasses, 1)) return bad;
  if (d.share !== undefined && !(isNum(d.share) && d.share >= 0 && d.share <= 1)) return bad;
  if (!Array.isArray(d.levels) || d.levels.length < 2 || d.levels.length > DRILL_LEVELS.length) return bad;
  // The levels are a tail of paragraph > sentence > word > token, in that order.
  const tail = DRILL_LEVELS.slice(DRILL_LEVELS.length - d.levels.length);
  if (!d.levels.every((l, i) => l === tail[i])) return bad;
  if (!Array.isArray(d.passesPerLevel) || d.passesPerLevel.length !== d.levels.length || !d.passesPerLevel.every((n) => isInt(n))) return bad;
  return { levels: d.levels.length };
}

function copyUnit(u: ExplainedUnit): ExplainedUnit {
  return {
    label: u.label,
    positions: [...u.positions],
    score: u.score,
    perTarget: [...u.perTarget],
    factors: u.factors.map(([p, f]) => [p, f] as [number, number]),
    ...unitImageFields(u),
    ...(u.children ? { children: u.children.map(copyUnit) } : {}),
  };
}

function copyDrillDown(d: NonNullable<Explanation['drillDown']>): NonNullable<Explanation['drillDown']> {
  return { top: d.top, ...(d.share !== undefined ? { share: d.share } : {}), levels: [...d.levels], passesPerLevel: [...d.passesPerLevel], fullPasses: d.fullPasses };
}

/** Whole numbers in [min, max], else the fallback. */
export function sanitizeInt(v: unknown, min: number, max: number, fallback: number, name: string, problems: Problems): number {
  if (v === undefined) return fallback;
  if (isInt(v, min) && v <= max) return v;
  problems.push(`The ${name} must be a whole number from ${min} to ${max}; using ${fallback}.`);
  return fallback;
}

// ---------------------------------------------------------------- images

type ExplainedImage = NonNullable<Explanation['image']>;
type ExplainedUnit = Explanation['units'][number];

/** Pixel sizes and coordinates a picture can have (the engine refuses more than 40 megapixels). */
const MAX_PIXELS_SIDE = 1_000_000;
const FRAME_KINDS = ['tile', 'global', 'image', 'cls', 'distillation'];

export function isRect(v: unknown): v is Rect {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const ok = (k: string, min: number) => isNum(r[k]) && (r[k] as number) >= min && (r[k] as number) <= MAX_PIXELS_SIDE;
  return ok('left', 0) && ok('top', 0) && ok('width', 0) && ok('height', 0);
}

export const copyRect = (r: Rect): Rect => ({ left: r.left, top: r.top, width: r.width, height: r.height });

function imageProblem(v: unknown): string | null {
  const bad = 'its image description is unreadable';
  if (typeof v !== 'object' || v === null) return bad;
  const im = v as Record<string, unknown>;
  if (!isInt(im.width, 1) || !isInt(im.height, 1) || (im.width as number) > MAX_PIXELS_SIDE || (im.height as number) > MAX_PIXELS_SIDE) return bad;
  if (!isStr(im.format, 20) || (im.placement !== 'sequence' && im.placement !== 'encoder')) return bad;
  if (!Array.isArray(im.frames) || im.frames.length === 0 || im.frames.length > 256) return bad;
  for (const f of im.frames as unknown[]) {
    const fr = f as Record<string, unknown>;
    if (typeof f !== 'object' || f === null || !isStr(fr.label, 60) || !FRAME_KINDS.includes(fr.kind as string)) return bad;
    if (!isInt(fr.index) || !isInt(fr.rows, 1) || !isInt(fr.cols, 1) || !isInt(fr.firstToken) || !isRect(fr.region)) return bad;
    if (!isInt(fr.tileRow, -1) || !isInt(fr.tileCol, -1)) return bad;
  }
  if (!Array.isArray(im.tokens) || im.tokens.length === 0 || im.tokens.length > LIMITS.tokens) return bad;
  for (const t of im.tokens as unknown[]) {
    const tk = t as Record<string, unknown>;
    if (typeof t !== 'object' || t === null || !isInt(tk.column) || !isStr(tk.frame, 60) || !isInt(tk.row) || !isInt(tk.col) || !isRect(tk.region)) return bad;
  }
  return null;
}

function unitImageProblem(u: Record<string, unknown>, image: ExplainedImage | undefined): string | null {
  if (u.image === undefined && u.region === undefined && u.imageTokens === undefined && u.regions === undefined) return null;
  const bad = 'an image unit is malformed';
  if (!image || u.image !== 0) return bad;
  if (!isRect(u.region)) return bad;
  const tokens = image.tokens.length;
  if (!Array.isArray(u.imageTokens) || u.imageTokens.length === 0 || u.imageTokens.length > tokens || !u.imageTokens.every((i) => isInt(i) && i < tokens)) return bad;
  if (!Array.isArray(u.regions) || u.regions.length > tokens || !u.regions.every(isRect)) return bad;
  return null;
}

function unitImageFields(u: ExplainedUnit): Partial<ExplainedUnit> {
  if (u.image === undefined) return {};
  return { image: u.image, region: copyRect(u.region!), imageTokens: [...u.imageTokens!], regions: u.regions!.map(copyRect) };
}

function copyImage(im: ExplainedImage): ExplainedImage {
  return {
    width: im.width,
    height: im.height,
    format: im.format,
    placement: im.placement,
    frames: im.frames.map((f) => ({
      label: f.label,
      kind: f.kind,
      index: f.index,
      tileRow: f.tileRow,
      tileCol: f.tileCol,
      rows: f.rows,
      cols: f.cols,
      firstToken: f.firstToken,
      region: copyRect(f.region),
    })),
    tokens: im.tokens.map((t) => ({ column: t.column, frame: t.frame, row: t.row, col: t.col, region: copyRect(t.region) })),
  };
}

/** An image address a link or saved state may name: http(s) or a path on this site; nothing else (no data:, blob:, javascript:). */
export function sanitizeImageUrl(v: unknown, problems: Problems): string | null {
  if (typeof v === 'string' && resolveAddress(v) !== null) return v;
  problems.push(`${quote(v)} is not an image address (http(s):// or a path on this site); the image was left out.`);
  return null;
}
