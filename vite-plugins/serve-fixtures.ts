// Serves the committed test models (fixtures/models/<name>/...) at /fixtures/models/ on the
// dev and preview servers, straight from disk: nothing is copied into public/ or the build.
// Missing files answer 404 (the engine probes files with HEAD; Vite's SPA fallback would
// otherwise answer 200 with index.html).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

const TYPES: Record<string, string> = { json: 'application/json', onnx: 'application/octet-stream', txt: 'text/plain; charset=utf-8' };

export function fixturesMiddleware(dir: string, prefix: string) {
  const root = resolve(dir);
  return async (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void): Promise<void> => {
    const url = req.url ?? '';
    if (!url.startsWith(prefix)) return next();
    const send = (status: number, text: string): void => {
      res.statusCode = status;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(text));
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(405, 'Method not allowed');
    }
    let rel: string;
    try {
      rel = decodeURIComponent(url.slice(prefix.length).split(/[?#]/)[0]!);
    } catch {
      return send(400, 'Bad path');
    }
    const file = resolve(root, rel);
    if (rel.includes('\0') || !(file === root || file.startsWith(root + sep))) return send(403, 'Forbidden');
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return send(404, 'Not found');
    res.statusCode = 200;
    res.setHeader('Content-Type', TYPES[file.split('.').pop() ?? ''] ?? 'application/octet-stream');
    res.setHeader('Content-Length', st.size);
    res.setHeader('Cache-Control', 'no-cache');
    // The page is cross-origin isolated (COEP require-corp); same-origin is enough, but say so.
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file)
      .on('error', (e) => res.destroy(e))
      .pipe(res);
  };
}

export function serveFixtures(opts: { dir?: string; prefix?: string } = {}): Plugin {
  return middlewarePlugin('atman-serve-fixtures', fixturesMiddleware(opts.dir ?? 'fixtures/models', opts.prefix ?? '/fixtures/models/'));
}

/** A plugin that puts one middleware on both the dev and the preview server. */
export function middlewarePlugin(name: string, mw: (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void) => Promise<void>): Plugin {
  return {
    name,
    configureServer(server) {
      server.middlewares.use(mw);
    },
    configurePreviewServer(server) {
      server.middlewares.use(mw);
    },
  };
}
