// Where a model's files come from: a hub repository, any base URL laid out like
// one, or (in Node) a folder. Everything above this reads files by their path
// inside the repository ("config.json", "onnx/model_q4.onnx").
import { AtmanError } from '../../core/errors';
import { type FetchFailureEnv, fetchFailure, fetchRetryingReset, httpFailure } from './fetch-failure';

export interface RepoFile {
  /** path inside the repository, '/'-separated: "onnx/model_q4.onnx" */
  path: string;
  /** bytes; null when the source does not say (a probed URL) */
  size: number | null;
}

export interface FileProgress {
  file: string;
  loaded: number;
  /** null when the server does not say */
  total: number | null;
}

export interface ModelSource {
  /** what the user named: a hub id, a URL or a folder */
  id: string;
  read(path: string, onProgress?: (p: FileProgress) => void): Promise<Uint8Array>;
  has(path: string): Promise<boolean>;
  /**
   * Every file the source holds with its size, where the source can say (a hub repository, a
   * folder, picked files); absent or null for a plain base URL, whose files are then probed.
   */
  list?(): Promise<RepoFile[] | null>;
  /** the file's path on disk, for sources that are folders (Node) */
  localPath?(path: string): string;
  /**
   * reading a file again is local and cheap (a folder, picked files, Cache Storage): a loaded model
   * may then let the graph file's bytes go and read them again when another pass over the graph needs them
   */
  rereadable?: boolean;
  /** the file's size in bytes without reading it (folders) */
  sizeOf?(path: string): Promise<number>;
  /** bytes offset..offset+length of a file without reading the rest (folders) */
  readRange?(path: string, offset: number, length: number): Promise<Uint8Array>;
}

export const isHubId = (s: string): boolean => /^[\w.-]+\/[\w.-]+$/.test(s) && !s.startsWith('.') && !s.includes('..');

/**
 * Single-page app servers (Vite's, most static hosts) answer a path they do not have with their
 * index page and status 200. A model file is never HTML, so an HTML answer to any other path means
 * the file is not there.
 */
export const isHtmlFallback = (r: Response, path: string): boolean =>
  /^text\/html\b/i.test(r.headers.get('content-type') ?? '') && !/\.html?$/i.test(path);

export function urlSource(baseUrl: string, id = baseUrl, fetchImpl: typeof fetch = fetch, env?: FetchFailureEnv): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const urlOf = (path: string): string => new URL(path, base).toString();
  const host = new URL(base).host;
  const request = async (path: string, init?: RequestInit): Promise<Response> => {
    try {
      return await fetchRetryingReset(fetchImpl, urlOf(path), init);
    } catch (e) {
      throw await fetchFailure(urlOf(path), `${path} of ${id}`, e, env);
    }
  };
  return {
    id,
    async has(path) {
      // Absent when the server says so (object stores answer 403 for a key they do not have, so
      // 401/403 count as absent too); a server that cannot be reached, limits or fails is said as such.
      const r = await request(path, { method: 'HEAD' });
      if (r.ok) return !isHtmlFallback(r, path);
      if ([401, 403, 404, 405, 410].includes(r.status)) return false;
      throw httpFailure(r.status, host, `${path} of ${id}`, 'MODEL_FILES_MISSING', r.headers.get('retry-after'));
    },
    async read(path, onProgress) {
      const r = await request(path);
      if (!r.ok) throw httpFailure(r.status, host, `${path} of ${id}`, 'MODEL_FILES_MISSING', r.headers.get('retry-after'));
      if (isHtmlFallback(r, path)) {
        await r.body?.cancel();
        throw new AtmanError('MODEL_FILES_MISSING', `${id} has no ${path}: the server answered with a web page instead of the file.`);
      }
      return readBody(r, path, onProgress);
    },
  };
}

export async function readBody(r: Response, file: string, onProgress?: (p: FileProgress) => void): Promise<Uint8Array> {
  const len = r.headers.get('content-length');
  const total = len ? Number(len) : null;
  if (!r.body || !onProgress) return new Uint8Array(await r.arrayBuffer());
  return (await readStream(r.body, Infinity, (loaded) => onProgress({ file, loaded, total }), total ?? undefined))!;
}

/**
 * Reads a stream whole, in one buffer; null as soon as it holds more than `limit` bytes (the rest
 * is cancelled unread). `onChunk` hears the bytes read so far after each chunk.
 */
export async function readStream(
  stream: ReadableStream<Uint8Array>,
  limit = Infinity,
  onChunk?: (loaded: number) => void,
  /** the length the server announced: the bytes go straight into one buffer of that size, never held twice */
  expected?: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let into = expected !== undefined && expected <= limit ? new Uint8Array(expected) : null;
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > limit) {
      await reader.cancel();
      return null;
    }
    if (into && loaded + value.length <= into.length) into.set(value, loaded);
    else {
      // More than announced: keep what came so far as one chunk and collect the rest.
      if (into) chunks.push(into.subarray(0, loaded));
      into = null;
      chunks.push(value);
    }
    loaded += value.length;
    onChunk?.(loaded);
  }
  if (into) return loaded === into.length ? into : into.slice(0, loaded);
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Files the user picked or dropped (a model folder), keyed by their path inside the folder. */
export function fileMapSource(id: string, files: ReadonlyMap<string, Blob>): ModelSource {
  return {
    id,
    rereadable: true,
    has: async (path) => files.has(path),
    list: async () => [...files].map(([path, f]) => ({ path, size: f.size })),
    async read(path) {
      const f = files.get(path);
      if (!f) throw new AtmanError('MODEL_FILES_MISSING', `The folder ${id} has no ${path}.`);
      return new Uint8Array(await f.arrayBuffer());
    },
  };
}
