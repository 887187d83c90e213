// A local HTTP server that answers like the Hugging Face hub, for tests: the tree API with Link
// paging, resolve URLs that redirect (302) to a content path, HEAD, and the hub's refusals (401
// RepoNotFound, 404 RevisionNotFound / EntryNotFound, with X-Error-Code and X-Error-Message).
// Files may be declared by size only (never downloaded), to test choices about big variants.
// Hashes are the hub's: LFS files list `lfs.oid` = SHA-256 of the content (also sent as
// X-Linked-Etag on resolve), others `oid` = git blob id. A file with `served` bytes is listed with
// the hashes of `data` but its download sends `served` (a transfer that changed bytes).
// `refuse` makes every request for a repository answer with a status (gated, rate limited, down).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { join } from 'node:path';

export type HubFile = { data: Uint8Array; served?: Uint8Array } | { size: number };
/** repo id -> revision -> path -> file */
export type HubRepos = Map<string, Map<string, Map<string, HubFile>>>;

export interface HubServer {
  endpoint: string;
  /** "METHOD /path?query" of every request, in order */
  log: string[];
  close(): Promise<void>;
}

const sizeOf = (f: HubFile): number => ('data' in f ? f.data.length : f.size);
const isLfs = (path: string): boolean => /\.(onnx|onnx_data|bin|safetensors)$|_data(_\d+)?$/.test(path);
// SHA-256 of the content (the LFS oid); a size-only file gets a stand-in of the same form.
const oidOf = (path: string, f: HubFile): string => ('data' in f ? createHash('sha256').update(f.data).digest('hex') : createHash('sha256').update(path).update(String(f.size)).digest('hex'));
// Where the CDN keeps the bytes it sends.
const cdnKey = (f: { data: Uint8Array; served?: Uint8Array }): string => createHash('sha256').update(f.served ?? f.data).digest('hex');
const gitBlobOf = (f: HubFile): string => {
  const data = 'data' in f ? f.data : new TextEncoder().encode(String(f.size));
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
};

/** A folder's files (as a repository holds them), optionally renamed and with extra size-only files. */
export function repoFromFolder(dir: string, rename: Record<string, string> = {}, drop: readonly string[] = []): Map<string, HubFile> {
  const out = new Map<string, HubFile>();
  const walk = (prefix: string): void => {
    for (const name of readdirSync(join(dir, prefix))) {
      const path = prefix ? `${prefix}/${name}` : name;
      if (statSync(join(dir, path)).isDirectory()) walk(path);
      else if (!drop.includes(path)) out.set(rename[path] ?? path, { data: new Uint8Array(readFileSync(join(dir, path))) });
    }
  };
  walk('');
  return out;
}

export interface HubServerOptions {
  pageSize?: number;
  /** repo id -> the answer every request for it gets (X-Error-Code header when `code` is given) */
  refuse?: Record<string, { status: number; code?: string; message?: string }>;
}

export async function startHubServer(repos: HubRepos, opts: HubServerOptions = {}): Promise<HubServer> {
  const pageSize = opts.pageSize ?? 1000;
  const log: string[] = [];
  // Content addressed like the hub's storage: resolve redirects here.
  const blobs = new Map<string, Uint8Array>();
  for (const revs of repos.values()) for (const files of revs.values()) for (const f of files.values()) if ('data' in f) blobs.set(cdnKey(f), f.served ?? f.data);

  const refuse = (res: ServerResponse, status: number, code: string, message: string): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message });
    res.end(JSON.stringify({ error: message }));
  };
  const lookup = (res: ServerResponse, repo: string, rev: string): Map<string, HubFile> | null => {
    const forced = opts.refuse?.[repo];
    if (forced) {
      res.writeHead(forced.status, { 'content-type': 'application/json', ...(forced.code ? { 'x-error-code': forced.code } : {}), ...(forced.message ? { 'x-error-message': forced.message } : {}) });
      res.end(JSON.stringify({ error: forced.message ?? 'refused' }));
      return null;
    }
    const revs = repos.get(repo);
    if (!revs) {
      // The hub answers 401 for a repository it cannot show an anonymous caller.
      refuse(res, 401, 'RepoNotFound', 'Repository not found');
      return null;
    }
    const files = revs.get(rev);
    if (!files) {
      refuse(res, 404, 'RevisionNotFound', 'Invalid rev id: ' + rev);
      return null;
    }
    return files;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    log.push(`${req.method} ${url.pathname}${url.search}`);
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'tree') {
      const files = lookup(res, `${parts[2]}/${parts[3]}`, parts[5] ?? 'main');
      if (!files) return;
      const dirs = new Set<string>();
      for (const p of files.keys()) for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) dirs.add(p.slice(0, i));
      const entries = [
        ...[...dirs].map((path) => ({ type: 'directory', oid: oidOf(path, { size: 0 }), size: 0, path })),
        ...[...files].map(([path, f]) => {
          const size = sizeOf(f);
          const lfs = isLfs(path);
          return { type: 'file', oid: gitBlobOf(lfs ? { size } : f), size, path, ...(lfs ? { lfs: { oid: oidOf(path, f), size, pointerSize: 134 } } : {}) };
        }),
      ].sort((a, b) => a.path.localeCompare(b.path));
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(cursor, cursor + pageSize);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (cursor + pageSize < entries.length) {
        const next = new URL(url);
        next.searchParams.set('cursor', String(cursor + pageSize));
        headers.link = `<http://${req.headers.host}${next.pathname}${next.search}>; rel="next"`;
      }
      res.writeHead(200, headers);
      res.end(JSON.stringify(page));
      return;
    }
    if (parts[2] === 'resolve' && parts.length >= 5) {
      const files = lookup(res, `${parts[0]}/${parts[1]}`, parts[3]!);
      if (!files) return;
      const path = parts.slice(4).join('/');
      const f = files.get(path);
      if (!f) return refuse(res, 404, 'EntryNotFound', `${path} does not exist on "${parts[3]}"`);
      res.writeHead(302, {
        location: `/cdn/${'data' in f ? cdnKey(f) : oidOf(path, f)}`,
        'x-linked-size': String(sizeOf(f)),
        'x-repo-commit': 'c0ffee',
        ...(isLfs(path) ? { 'x-linked-etag': `"${oidOf(path, f)}"` } : { etag: `"${gitBlobOf(f)}"` }),
      });
      res.end();
      return;
    }
    if (parts[0] === 'cdn') {
      const data = blobs.get(parts[1] ?? '');
      if (!data) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
      res.end(req.method === 'HEAD' ? undefined : data);
      return;
    }
    res.writeHead(404);
    res.end();
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    log,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}
