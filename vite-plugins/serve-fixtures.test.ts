import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesMiddleware } from './serve-fixtures';

describe('fixtures middleware', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    const mw = fixturesMiddleware('fixtures/models', '/fixtures/models/');
    server = createServer((req, res) => void mw(req, res, () => res.writeHead(200).end('spa fallback')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('serves files with GET and HEAD and their length', async () => {
    const size = statSync('fixtures/models/tiny-gpt2/onnx/model.onnx').size;
    const head = await fetch(`${base}/fixtures/models/tiny-gpt2/onnx/model.onnx`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(size));
    const get = await fetch(`${base}/fixtures/models/tiny-gpt2/config.json`);
    expect(get.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(await get.text())).toHaveProperty('model_type');
  });

  it('answers 404 for missing files and folders, not the SPA fallback', async () => {
    for (const p of ['nope/config.json', 'tiny-gpt2/onnx/model_fp16.onnx', 'tiny-gpt2/onnx', '']) {
      expect((await fetch(`${base}/fixtures/models/${p}`, { method: 'HEAD' })).status, p).toBe(404);
    }
    expect(await (await fetch(`${base}/other`)).text()).toBe('spa fallback');
  });

  it('rejects path traversal and other methods', async () => {
    // URLs normalise "..", so send the raw path through node:http options
    const { request } = await import('node:http');
    const port = (server.address() as AddressInfo).port;
    const status = (path: string, method = 'GET') =>
      new Promise<number>((r) => request({ host: '127.0.0.1', port, path, method }, (res) => (res.resume(), r(res.statusCode!))).end());
    expect(await status('/fixtures/models/../../package.json')).toBe(403);
    expect(await status('/fixtures/models/%2e%2e/%2e%2e/package.json')).toBe(403);
    expect(await status('/fixtures/models/tiny-gpt2/config.json', 'POST')).toBe(405);
  });
});
