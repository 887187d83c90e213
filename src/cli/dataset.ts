// Explaining a whole JSON-lines file with one loaded model: each line a case, each result one
// appended line (written and flushed before the next case starts), a restart skipping the lines
// already in the results file, and `--shard K/N` giving line i to shard i mod N.
//
// A case line: {"prompt": "...", "target": "...", "id"?: string | number, "image"?: path (relative
// to the dataset's folder), "regions"?: [[left, top, width, height], ...], "granularity"?: "word"
// (or "units"; any --granularity value)}. Blank lines are not cases. A line that is not such an
// object, or whose explanation fails with a typed error, becomes an error record
// {"index", "line", "id"?, "ok": false, "error": {"code", "message"}} so that one bad line does
// not stop the run; a restart does not retry it. Any other failure stops the run, and a restart
// redoes that line.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AtmanError, isAtmanError } from '../core/errors';
import type { Rect } from '../core/image-regions';
import { parseGranularity } from '../core/settings';
import type { Granularity } from '../core/types';

export interface DatasetCase {
  /** 0-based line index in the file (blank lines count), the key results are matched by */
  index: number;
  /** 1-based line number, for people */
  line: number;
  id?: string | number;
  prompt: string;
  target: string;
  /** absolute path of the picture, for vision-language models */
  image?: string;
  regions?: Rect[];
  granularity?: Granularity;
}

export interface DatasetRecordBase {
  index: number;
  line: number;
  id?: string | number;
}

export type DatasetRecord = DatasetRecordBase & ({ ok: true; explanation: unknown } | { ok: false; error: { code: string; message: string } });

export interface Shard {
  index: number;
  count: number;
}

/**
 * "K/N" (0 <= K < N) or "auto/N", where auto reads K from $JOB_COMPLETION_INDEX, the index a
 * Kubernetes Indexed Job gives each of its pods.
 */
export function parseShard(text: string, env: Record<string, string | undefined> = process.env): Shard {
  const m = /^\s*(\d+|auto)\s*\/\s*(\d+)\s*$/.exec(text);
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1)) {
    throw new AtmanError('BAD_SETTING', `--shard takes K/N with 0 <= K < N (the shard's 0-based index and the number of shards), or auto/N to read K from JOB_COMPLETION_INDEX (got "${text}").`);
  }
  let k = m[1]!;
  if (k === 'auto') {
    const fromEnv = env.JOB_COMPLETION_INDEX;
    if (fromEnv === undefined || !/^\d+$/.test(fromEnv)) {
      throw new AtmanError('BAD_SETTING', `--shard auto/${count} reads the shard from JOB_COMPLETION_INDEX, which is ${fromEnv === undefined ? 'not set' : `"${fromEnv}"`}; a Kubernetes Indexed Job sets it, elsewhere give --shard K/${count}.`);
    }
    k = fromEnv;
  }
  const index = Number(k);
  if (index >= count) throw new AtmanError('BAD_SETTING', `--shard ${index}/${count}: the shard index runs from 0 to ${count - 1}.`);
  return { index, count };
}

/** "{shard}" in an output path becomes the shard's index, so one argument serves every pod of a Job. */
export const outPathFor = (template: string, shard: Shard | null): string => template.replaceAll('{shard}', String(shard?.index ?? 0));

export const inShard = (index: number, shard: Shard | null): boolean => !shard || index % shard.count === shard.index;

/** The dataset's lines: a case, or the typed error that makes it an error record. Blank lines are left out. */
export function readDataset(file: string): Array<DatasetCase | { index: number; line: number; id?: string | number; error: AtmanError }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AtmanError('BAD_SETTING', `Cannot read the dataset ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}.`);
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const out: ReturnType<typeof readDataset> = [];
  lines.forEach((raw, index) => {
    if (raw.trim() === '') return;
    try {
      out.push(parseCase(raw, index, dirname(resolve(file))));
    } catch (e) {
      if (!isAtmanError(e)) throw e;
      const id = idOf(raw);
      out.push({ index, line: index + 1, ...(id !== undefined ? { id } : {}), error: e });
    }
  });
  return out;
}

const KEYS = new Set(['id', 'prompt', 'target', 'image', 'regions', 'granularity', 'units']);

export function parseCase(raw: string, index: number, baseDir: string): DatasetCase {
  const line = index + 1;
  const bad = (why: string) => new AtmanError('DATASET_LINE_INVALID', `Line ${line} of the dataset ${why}.`);
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw bad(`is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('is not a JSON object');
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KEYS.has(k));
  if (unknown.length) throw bad(`has fields this tool does not know: ${unknown.join(', ')} (known: ${[...KEYS].join(', ')})`);
  if (typeof o.prompt !== 'string') throw bad('has no "prompt" string');
  if (typeof o.target !== 'string') throw bad('has no "target" string');
  if (o.id !== undefined && typeof o.id !== 'string' && typeof o.id !== 'number') throw bad('has an "id" that is neither a string nor a number');
  if (o.image !== undefined && (typeof o.image !== 'string' || o.image === '')) throw bad('has an "image" that is not a file path');
  if (o.granularity !== undefined && o.units !== undefined) throw bad('gives both "granularity" and "units"; they are the same setting');
  const g = o.granularity ?? o.units;
  if (g !== undefined && typeof g !== 'string') throw bad('has a "granularity" that is not a string such as "word"');
  let granularity: Granularity | undefined;
  try {
    granularity = g === undefined ? undefined : parseGranularity(g as string);
  } catch (e) {
    throw bad(`has a granularity this tool does not know: ${(e as Error).message}`);
  }
  const regions = o.regions === undefined ? undefined : parseRegions(o.regions, bad);
  if (regions && o.image === undefined) throw bad('has "regions" but no "image" they mark');
  return {
    index,
    line,
    ...(o.id !== undefined ? { id: o.id as string | number } : {}),
    prompt: o.prompt,
    target: o.target,
    ...(o.image !== undefined ? { image: resolve(baseDir, o.image as string) } : {}),
    ...(regions ? { regions } : {}),
    ...(granularity ? { granularity } : {}),
  };
}

function parseRegions(v: unknown, bad: (why: string) => AtmanError): Rect[] {
  const ok = (r: unknown): r is number[] => Array.isArray(r) && r.length === 4 && r.every((x) => typeof x === 'number' && Number.isFinite(x)) && r[2]! > 0 && r[3]! > 0;
  if (!Array.isArray(v) || !v.every(ok)) throw bad('has "regions" that are not a list of [left, top, width, height] with width and height above 0');
  return (v as number[][]).map(([left, top, width, height]) => ({ left: left!, top: top!, width: width!, height: height! }));
}

function idOf(raw: string): string | number | undefined {
  try {
    const id = (JSON.parse(raw) as { id?: unknown })?.id;
    return typeof id === 'string' || typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The line indices a results file already holds. A last line cut short by a crash (no newline,
 * or not JSON) is cut off the file, so its case runs again; a damaged line before it is an error.
 */
export function resumeResults(file: string): Set<number> {
  const done = new Set<number>();
  if (!existsSync(file)) return done;
  const text = readFileSync(file, 'utf8');
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    lineNo++;
    const index = end < 0 ? null : recordIndex(text.slice(start, end));
    if (index === null) {
      if (end >= 0 && text.slice(end + 1).trim() !== '') {
        throw new AtmanError('DATASET_RESULTS_DAMAGED', `Line ${lineNo} of the results file ${file} is not a result record and more results follow it; move the file aside or repair that line.`);
      }
      break;
    }
    done.add(index);
    start = end + 1;
  }
  if (start < text.length) truncateSync(file, Buffer.byteLength(text.slice(0, start)));
  return done;
}

function recordIndex(raw: string): number | null {
  try {
    const r = JSON.parse(raw) as Partial<DatasetRecord>;
    return typeof r?.index === 'number' && Number.isInteger(r.index) && (r.ok === true || r.ok === false) ? r.index : null;
  } catch {
    return null;
  }
}

/** Appends records one line each, on disk before append returns. */
export class ResultsWriter {
  private readonly fd: number;
  constructor(file: string) {
    this.fd = openSync(file, 'a');
  }
  append(record: DatasetRecord): void {
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
    fsyncSync(this.fd);
  }
  close(): void {
    closeSync(this.fd);
  }
}

export const errorRecord = (c: DatasetRecordBase, e: AtmanError): DatasetRecord => ({
  index: c.index,
  line: c.line,
  ...(c.id !== undefined ? { id: c.id } : {}),
  ok: false,
  error: { code: e.code, message: e.message },
});
