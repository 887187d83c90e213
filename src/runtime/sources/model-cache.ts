// Downloaded model files kept in the browser's Cache Storage, so a model fetched once from the
// hub (or any URL) loads again without the network. The store is passed in as a CacheLike (the
// worker passes `await caches.open(MODEL_CACHE_NAME)`; tests pass an in-memory one), which keeps
// this module free of browser globals.
//
// Entries are keyed by model id + path on a synthetic URL (Cache Storage only accepts http(s)
// keys): one model fetched from two mirrors is two ids, and a hub revision is part of the id.
// Nothing is ever revalidated: a cached file is served until clearCache() drops it.
import { AtmanError, isAtmanError } from '../../core/errors';
import type { FileProgress, ModelSource } from './model-source';
import type { RepoFile } from './repo-files';

export const MODEL_CACHE_NAME = 'atman-models-v1';

/** The part of the DOM `Cache` this module uses; the real one is assignable to it. */
export interface CacheLike {
  match(request: string): Promise<Response | undefined>;
  put(request: string, response: Response): Promise<void>;
  delete(request: string): Promise<boolean>;
  keys(): Promise<ReadonlyArray<{ url: string }>>;
}

/** a model whose files the browser keeps (Cache Storage) */
export interface CachedModel {
  /** the cache id: a hub id ("owner/name", "@revision" appended unless main) or a model's absolute base URL */
  id: string;
  files: number;
  bytes: number;
}

// Never fetched; the .invalid TLD says so.
const KEY_ORIGIN = 'https://atman-model-cache.invalid/';
// Size of the stored file, so listing the cache never has to read bodies.
const BYTES_HEADER = 'x-atman-bytes';

export function cacheKey(id: string, path: string): string {
  return `${KEY_ORIGIN}${encodeURIComponent(id)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

export function parseCacheKey(url: string): { id: string; path: string } | null {
  if (!url.startsWith(KEY_ORIGIN)) return null;
  const [id, ...path] = url.slice(KEY_ORIGIN.length).split('/');
  if (!id || !path.length) return null;
  try {
    return { id: decodeURIComponent(id), path: path.map(decodeURIComponent).join('/') };
  } catch {
    return null;
  }
}

/**
 * `inner` with Cache Storage in front: reads and has() answer from the cache first; a file
 * downloaded by `inner` is stored once it has arrived whole. A failing store (quota, private
 * mode) costs only the caching, never the load.
 */
export function cachedSource(inner: ModelSource, cache: CacheLike, key: string): ModelSource {
  const keyOf = (path: string): string => cacheKey(key, path);
  return {
    id: inner.id,
    // A file read once is in the cache (or, where storing it failed, downloaded again).
    rereadable: true,
    async list() {
      try {
        return (await inner.list?.()) ?? null;
      } catch (e) {
        // Offline (or the hub refusing now): what was downloaded before is what there is.
        const kept = await cachedFiles(cache, key).catch(() => []);
        if (kept.length) return kept;
        throw e;
      }
    },
    async has(path) {
      if (await cache.match(keyOf(path)).catch(() => undefined)) return true;
      try {
        return await inner.has(path);
      } catch (e) {
        // Offline with this model cached: a file not kept is a file not there (as list() does).
        if ((await cachedFiles(cache, key).catch(() => [])).length) return false;
        throw e;
      }
    },
    async read(path, onProgress) {
      const hit = await cache.match(keyOf(path)).catch(() => undefined);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        // One event, so progress bars still reach 100% for cached files.
        onProgress?.({ file: path, loaded: bytes.length, total: bytes.length } satisfies FileProgress);
        return bytes;
      }
      const bytes = await inner.read(path, onProgress);
      try {
        await cache.put(keyOf(path), new Response(streamOf(bytes), { headers: { 'content-type': 'application/octet-stream', [BYTES_HEADER]: String(bytes.length) } }));
      } catch {
        // Not fatal: the next visit downloads again.
      }
      return bytes;
    },
  };
}

/**
 * The bytes as a stream of small copies: the cache writes them as they come, where a Blob of the
 * whole file would be a second full copy of a model held until the cache has written it.
 */
function streamOf(bytes: Uint8Array, chunk = 1 << 20): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

/** One model's files in the cache with their sizes. */
async function cachedFiles(cache: CacheLike, id: string): Promise<RepoFile[]> {
  const out: RepoFile[] = [];
  for (const req of await cache.keys()) {
    const k = parseCacheKey(req.url);
    if (!k || k.id !== id) continue;
    const res = await cache.match(req.url);
    const bytes = Number(res?.headers.get(BYTES_HEADER) ?? NaN);
    out.push({ path: k.path, size: Number.isFinite(bytes) ? bytes : null });
  }
  return out;
}

/** The models in the cache with their file count and bytes, in first-stored order. */
export async function listCachedModels(cache: CacheLike): Promise<CachedModel[]> {
  const byId = new Map<string, CachedModel>();
  for (const req of await cache.keys()) {
    const k = parseCacheKey(req.url);
    if (!k) continue;
    const res = await cache.match(req.url);
    if (!res) continue;
    const bytes = Number(res.headers.get(BYTES_HEADER) ?? res.headers.get('content-length') ?? NaN);
    const m = byId.get(k.id) ?? { id: k.id, files: 0, bytes: 0 };
    m.files += 1;
    m.bytes += Number.isFinite(bytes) ? bytes : (await res.arrayBuffer()).byteLength;
    byId.set(k.id, m);
  }
  return [...byId.values()];
}

/** Drops one model's files, or every model's. Returns how many files went. */
export async function clearCachedModels(cache: CacheLike, id?: string): Promise<number> {
  let n = 0;
  for (const req of await cache.keys()) {
    const k = parseCacheKey(req.url);
    if (!k || (id !== undefined && k.id !== id)) continue;
    if (await cache.delete(req.url)) n++;
  }
  return n;
}

/**
 * A load that failed because a file is damaged (it does not parse, or the graph does not hold
 * together) would fail the same way from the cache forever: the model's files are dropped, so the
 * next load downloads them afresh. Returns the error to throw, saying so when files went.
 */
export async function forgetDamaged(e: unknown, cache: CacheLike, id: string): Promise<unknown> {
  if (!isAtmanError(e) || (e.code !== 'MODEL_DAMAGED' && e.code !== 'MODEL_INVALID')) return e;
  const dropped = await clearCachedModels(cache, id).catch(() => 0);
  if (!dropped) return e;
  return new AtmanError(e.code, `${e.message} The copy this browser kept was removed; loading again downloads it afresh.`, e.detail);
}

/** The source descriptions cacheIdFor needs (a structural subset of the protocol's ModelSourceSpec). */
export type SourceDescription = { kind: 'url'; baseUrl: string } | { kind: 'hub'; repo: string; revision?: string } | { kind: 'files' };

/**
 * Which loads go through the cache, and under which id: hub models and URLs elsewhere, yes;
 * the app's own bundled models (`<appOrigin><bundledPath>`, served with the app, available
 * whenever the app is) and folders from the user's disk, no. `baseUrl` must be absolute.
 */
export function cacheIdFor(spec: SourceDescription, appOrigin: string, bundledPath = '/models/'): string | null {
  if (spec.kind === 'hub') return spec.revision && spec.revision !== 'main' ? `${spec.repo}@${spec.revision}` : spec.repo;
  if (spec.kind !== 'url') return null;
  const base = spec.baseUrl.endsWith('/') ? spec.baseUrl : `${spec.baseUrl}/`;
  return base.startsWith(new URL(bundledPath, appOrigin).href) ? null : base;
}
