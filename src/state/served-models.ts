// Models the app's own server offers beside the bundled ones: a workshop server (`npm run
// workshop`) lists the hub models the teacher fetched beforehand at /workshop/models.json and
// serves their files from the same origin. Any other host answers 404 (or its index page), and
// the list is then empty. The list is read like any outside input: checked field by field, bounded.
import { HUB_ID, type ModelChoice } from './model-catalog';

export const SERVED_LIST_PATH = '/workshop/models.json';
export const SERVED_PREFIX = '/workshop/models/';
const MAX_SERVED = 50;

export interface ServedModel {
  /** owner/name, as on the hub */
  repo: string;
  /** its graphs, e.g. ["onnx/model_q4.onnx"] */
  onnx: string[];
  /** all its files together */
  bytes: number;
}

export const servedPath = (repo: string): string => `${SERVED_PREFIX}${repo}/`;
export const servedChoice = (m: Pick<ServedModel, 'repo'>): ModelChoice => ({ kind: 'url', url: servedPath(m.repo) });

/** The served model a choice names, if it names one of the list. */
export const servedFor = (c: ModelChoice, served: readonly ServedModel[]): ServedModel | undefined =>
  c.kind === 'url' ? served.find((m) => servedPath(m.repo) === c.url) : undefined;

/** A URL choice on this site's workshop folder: local to the class, so it loads at once. */
export const isServedChoice = (c: ModelChoice): boolean => c.kind === 'url' && c.url.startsWith(SERVED_PREFIX) && HUB_ID.test(c.url.slice(SERVED_PREFIX.length, -1));

export function parseServedModels(v: unknown): ServedModel[] {
  if (!Array.isArray(v)) return [];
  const out: ServedModel[] = [];
  for (const e of v.slice(0, MAX_SERVED)) {
    if (typeof e !== 'object' || e === null) continue;
    // Own fields only: nothing inherited through a prototype is read.
    const own = (k: string): unknown => (Object.hasOwn(e, k) ? (e as Record<string, unknown>)[k] : undefined);
    const [repo, onnx, bytes] = [own('repo'), own('onnx'), own('bytes')];
    if (typeof repo !== 'string' || !HUB_ID.test(repo)) continue;
    const graphs = Array.isArray(onnx) ? onnx.filter((p): p is string => typeof p === 'string' && /^[\w./-]{1,200}\.onnx$/.test(p)).slice(0, 20) : [];
    out.push({ repo, onnx: graphs, bytes: typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0 ? bytes : 0 });
  }
  return out;
}

export async function fetchServedModels(fetchFn: typeof fetch = fetch): Promise<ServedModel[]> {
  try {
    const r = await fetchFn(SERVED_LIST_PATH, { cache: 'no-store' });
    if (!r.ok || !/^application\/json\b/i.test(r.headers.get('content-type') ?? '')) return [];
    return parseServedModels(await r.json());
  } catch {
    return [];
  }
}
