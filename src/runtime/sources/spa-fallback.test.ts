// A static single-page-app server answers any path it lacks with its index page and 200 (Vite's
// preview and dev servers do). The URL source must not take that page for a model file.
import { readFileSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from '../atman/atman-model';
import { urlSource } from './model-source';
import { createWebBackend } from '../backends/web-backend';

const ROOT = 'fixtures/models';
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = join(ROOT, path);
    let isFile = false;
    try {
      isFile = !path.includes('..') && statSync(file).isFile();
    } catch {
      isFile = false;
    }
    const body = isFile ? readFileSync(file) : Buffer.from('<!doctype html><html><body>app</body></html>');
    res.writeHead(200, { 'content-type': isFile ? 'application/octet-stream' : 'text/html; charset=utf-8', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('a URL source behind a single-page-app server', () => {
  it('does not take the index page for a missing file', async () => {
    const source = urlSource(`${base}/tiny-llama-sdpa/`);
    expect(await source.has('onnx/model.onnx')).toBe(true);
    expect(await source.has('onnx/model_q4.onnx')).toBe(false);
    await expectCode(source.read('onnx/model_q4.onnx'), 'MODEL_FILES_MISSING', /answered with a web page/);
  });

  it('an automatic choice on WASM skips the variants the server lacks and loads the one it has', async () => {
    ortWeb.env.wasm.numThreads = 1;
    const web = createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm');
    const model = await AtmanModel.load(urlSource(`${base}/tiny-llama-sdpa/`), web);
    try {
      expect(model.onnxFile).toBe('onnx/model.onnx');
      expect(model.dtype).toBe('fp32');
    } finally {
      await model.release();
    }
  });
});
