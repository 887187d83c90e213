// A Hugging Face hub repository as a ModelSource, spoken to the way the hub answers:
//   GET  {endpoint}/api/models/{repo}/tree/{revision}?recursive=true   JSON entries, paged by a Link header
//   GET  {endpoint}/{repo}/resolve/{revision}/{path}                   the file, usually through a redirect
// and failures as 401/403/404 with an X-Error-Code header (RepoNotFound, GatedRepo,
// RevisionNotFound, EntryNotFound), 429 and 5xx. No answer at all (offline, DNS, blocked, CORS)
// is told apart in fetch-failure.ts. The endpoint is configurable (mirrors, tests).
import { AtmanError } from '../../core/errors';
import { type ModelSource, isHubId, readBody } from './model-source';
import type { RepoFile } from './repo-files';
import { type KnownHash, checkHash, sha256FromEtag } from './file-hashes';
import { type FetchFailureEnv, fetchFailure, fetchRetryingReset, httpFailure } from './fetch-failure';

export const HUB_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  revision?: string;
  /** the hub's origin, default https://huggingface.co */
  endpoint?: string;
  fetch?: typeof fetch;
  /** how to tell network failures apart (tests); defaults read the running environment */
  env?: FetchFailureEnv;
}

/** One entry of the tree listing (only the fields this engine reads). */
interface TreeEntry {
  type: 'file' | 'directory' | string;
  path: string;
  size?: number;
  /** git blob id (of the LFS pointer, for LFS files) */
  oid?: string;
  /** LFS files: the content's SHA-256 and size */
  lfs?: { size?: number; oid?: string };
}

// A listing longer than this many pages is not a model repository this app can use.
const MAX_PAGES = 100;

export function hubSource(repoId: string, opts: HubOptions = {}): ModelSource {
  if (!isHubId(repoId)) throw new AtmanError('MODEL_FILES_MISSING', `"${repoId}" is not a Hugging Face model id (expected owner/name).`);
  const revision = opts.revision ?? 'main';
  const endpoint = (opts.endpoint ?? HUB_ENDPOINT).replace(/\/+$/, '');
  const fetchImpl = opts.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  const rev = encodeURIComponent(revision);
  const fileUrl = (path: string): string => `${endpoint}/${repoId}/resolve/${rev}/${path.split('/').map(encodeURIComponent).join('/')}`;
  const where = revision === 'main' ? repoId : `${repoId} at revision ${revision}`;

  const request = async (url: string, init: RequestInit, what: string): Promise<Response> => {
    try {
      return await fetchRetryingReset(fetchImpl, url, { ...init, redirect: 'follow' });
    } catch (e) {
      throw await fetchFailure(url, `${what} of ${where}`, e, opts.env);
    }
  };

  // What each listed file should hash to; a read checks the bytes before handing them on (and so
  // before a cache keeps them).
  const hashes = new Map<string, KnownHash>();

  return {
    id: repoId,
    async list() {
      const files: RepoFile[] = [];
      let url: string | null = `${endpoint}/api/models/${repoId}/tree/${rev}?recursive=true&expand=false`;
      for (let page = 0; url; page++) {
        if (page === MAX_PAGES) throw new AtmanError('MODEL_UNSUPPORTED', `${where} lists more than ${MAX_PAGES} pages of files; that is not a model repository this app reads.`);
        const r = await request(url, { headers: { accept: 'application/json' } }, 'the file list');
        if (!r.ok) throw hubError(r, repoId, revision, null);
        let entries: TreeEntry[];
        try {
          entries = (await r.json()) as TreeEntry[];
          if (!Array.isArray(entries)) throw new Error('not a list');
        } catch {
          throw new AtmanError('MODEL_FILES_MISSING', `The hub's file list for ${where} is not the JSON list it should be.`);
        }
        for (const e of entries) {
          if (e.type !== 'file' || typeof e.path !== 'string') continue;
          const size = e.lfs?.size ?? e.size;
          files.push({ path: e.path, size: typeof size === 'number' ? size : null });
          const sha = typeof e.lfs?.oid === 'string' ? e.lfs.oid.replace(/^sha256:/, '') : null;
          if (sha && /^[0-9a-f]{64}$/i.test(sha)) hashes.set(e.path, { sha256: sha });
          else if (!e.lfs && typeof e.oid === 'string' && /^[0-9a-f]{40}$/i.test(e.oid)) hashes.set(e.path, { gitBlob: e.oid });
        }
        url = nextLink(r.headers.get('link'), url);
      }
      return files;
    },
    async has(path) {
      // "Not there" only when the hub says so; no answer at all is not an answer.
      const r = await request(fileUrl(path), { method: 'HEAD' }, path);
      if (r.ok) return true;
      if (r.status === 404) return false;
      throw hubError(r, repoId, revision, path);
    },
    async read(path, onProgress) {
      const r = await request(fileUrl(path), {}, path);
      if (!r.ok) throw hubError(r, repoId, revision, path);
      // The listing's hash, or the one the hub's own answer carries (X-Linked-Etag; a CDN's ETag
      // after a redirect is its own, often an MD5, so it is not read).
      const sha = sha256FromEtag(r.headers.get('x-linked-etag'));
      const known = hashes.get(path) ?? (sha ? { sha256: sha } : null);
      const bytes = await readBody(r, path, onProgress);
      if (known) await checkHash(bytes, known, path, where, 'the hub');
      return bytes;
    },
  };
}

/** The rel="next" target of a Link header, resolved against the page it came with. */
export function nextLink(header: string | null, base: string): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /(^|;)\s*rel="?next"?\s*(;|$)/i.test(m[2]!)) return new URL(m[1]!, base).toString();
  }
  return null;
}

/** The hub's refusal in words, by its X-Error-Code, else by the status. */
export function hubError(r: Response, repo: string, revision: string, path: string | null): AtmanError {
  const code = r.headers.get('x-error-code');
  const hubMessage = r.headers.get('x-error-message');
  const detail = { status: r.status, hubCode: code, path };
  const at = revision === 'main' ? '' : ` at revision ${revision}`;
  const host = hostOf(r.url) || 'The hub';
  switch (code) {
    case 'RepoNotFound':
      // The hub answers the same for a repository that does not exist and one it will not show an anonymous visitor.
      return new AtmanError('MODEL_NOT_FOUND', `The hub has no model repository ${repo} (or it is private, which needs a sign-in this app does not do). Check the model id.`, detail);
    case 'GatedRepo':
      return new AtmanError('ACCESS_DENIED', `${repo} is gated: its terms must be accepted on the hub and a token sent, which this app does not do.`, detail);
    case 'RevisionNotFound':
      return new AtmanError('MODEL_NOT_FOUND', `${repo} has no revision "${revision}" (branch, tag or commit).`, detail);
    case 'EntryNotFound':
      return new AtmanError('MODEL_FILES_MISSING', `${repo}${at} has no file ${path ?? ''}.`.replace(/ \.$/, '.'), detail);
  }
  if (r.status === 401) {
    // Without X-Error-Code (a proxy, or a header the browser was not shown) a 401 still means what the hub uses it for.
    return new AtmanError('MODEL_NOT_FOUND', `The hub shows no model repository ${repo} to a visitor without sign-in (HTTP 401): it does not exist, or it is private or gated. Check the model id.`, detail);
  }
  const what = path ? `${path} of ${repo}${at}` : `the file list of ${repo}${at}`;
  const e = httpFailure(r.status, host, what, path ? 'MODEL_FILES_MISSING' : 'MODEL_NOT_FOUND', r.headers.get('retry-after'));
  return new AtmanError(e.code, hubMessage ? `${e.message} The hub says: ${hubMessage}` : e.message, detail);
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
};
