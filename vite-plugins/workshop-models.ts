// Serves the models a teacher fetched beforehand (`npm run fetch-model`, hub layout under
// <dir>/<owner>/<name>/) from the app's own origin: the files at /workshop/models/<owner>/<name>/…
// and the list at /workshop/models.json, which the model picker reads to offer them.
import { readdir, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Plugin } from 'vite';
import { fixturesMiddleware, middlewarePlugin } from './serve-fixtures.ts';

export const WORKSHOP_PREFIX = '/workshop/models/';
export const WORKSHOP_LIST = '/workshop/models.json';

export interface ServedModel {
  /** owner/name, as on the hub */
  repo: string;
  /** the base URL of its files on this site */
  path: string;
  /** its graphs, e.g. ["onnx/model_q4.onnx"] */
  onnx: string[];
  /** all its files together */
  bytes: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

async function filesUnder(dir: string, prefix = ''): Promise<Array<{ path: string; size: number }>> {
  const out: Array<{ path: string; size: number }> = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, path)));
    else if (e.isFile() && !e.name.endsWith('.part')) out.push({ path, size: (await stat(join(dir, path))).size });
  }
  return out;
}

/** Every <owner>/<name> folder under dir that holds a config.json and at least one graph. */
export async function listServedModels(dir: string): Promise<ServedModel[]> {
  const owners = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: ServedModel[] = [];
  for (const owner of owners) {
    if (!owner.isDirectory() || !NAME.test(owner.name)) continue;
    for (const name of await readdir(join(dir, owner.name), { withFileTypes: true })) {
      if (!name.isDirectory() || !NAME.test(name.name)) continue;
      const files = await filesUnder(join(dir, owner.name, name.name));
      const onnx = files.filter((f) => f.path.endsWith('.onnx')).map((f) => f.path).sort();
      if (!files.some((f) => f.path === 'config.json') || !onnx.length) continue;
      const repo = `${owner.name}/${name.name}`;
      out.push({ repo, path: `${WORKSHOP_PREFIX}${repo}/`, onnx, bytes: files.reduce((a, f) => a + f.size, 0) });
    }
  }
  return out.sort((a, b) => (a.repo < b.repo ? -1 : 1));
}

export function workshopMiddleware(dir: string) {
  const files = fixturesMiddleware(dir, WORKSHOP_PREFIX);
  return async (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void): Promise<void> => {
    if ((req.url ?? '').split('?')[0] !== WORKSHOP_LIST) return files(req, res, next);
    const body = JSON.stringify(await listServedModels(dir));
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

export function serveWorkshopModels(dir: string): Plugin {
  return middlewarePlugin('atman-workshop-models', workshopMiddleware(dir));
}
