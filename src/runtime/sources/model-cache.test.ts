import { describe, expect, it } from 'vitest';
import { MemoryCache } from '../../testing/memory-cache';
import { AtmanError } from '../../core/errors';
import { type CacheLike, cacheIdFor, cacheKey, cachedSource, clearCachedModels, listCachedModels, parseCacheKey } from './model-cache';
import type { FileProgress, ModelSource } from './model-source';


/** A network source that counts requests and can be switched off. */
function fakeNetwork(files: Record<string, number>) {
  const calls: string[] = [];
  let online = true;
  const source: ModelSource = {
    id: 'owner/tiny',
    async has(path) {
      calls.push(`HEAD ${path}`);
      return online && path in files;
    },
    async read(path, onProgress) {
      calls.push(`GET ${path}`);
      if (!online || !(path in files)) throw new AtmanError('MODEL_FILES_MISSING', `no ${path}`);
      const n = files[path]!;
      const half = Math.floor(n / 2);
      onProgress?.({ file: path, loaded: half, total: n });
      onProgress?.({ file: path, loaded: n, total: n });
      return Uint8Array.from({ length: n }, (_, i) => i % 251);
    },
  };
  return { source, calls, offline: () => (online = false) };
}

describe('cachedSource', () => {
  it('downloads once with progress, then serves from the cache without the network', async () => {
    const cache = new MemoryCache();
    const net = fakeNetwork({ 'config.json': 10, 'onnx/model.onnx': 1000 });
    const src = cachedSource(net.source, cache, 'owner/tiny');
    const progress: FileProgress[] = [];
    const first = await src.read('onnx/model.onnx', (p) => progress.push(p));
    expect(first.length).toBe(1000);
    expect(progress).toEqual([
      { file: 'onnx/model.onnx', loaded: 500, total: 1000 },
      { file: 'onnx/model.onnx', loaded: 1000, total: 1000 },
    ]);
    await src.read('config.json');

    net.offline();
    net.calls.length = 0;
    expect(await src.has('onnx/model.onnx')).toBe(true);
    const again: FileProgress[] = [];
    const second = await src.read('onnx/model.onnx', (p) => again.push(p));
    expect(second).toEqual(first);
    expect(again).toEqual([{ file: 'onnx/model.onnx', loaded: 1000, total: 1000 }]);
    expect(net.calls).toEqual([]);
    // Not cached: asks the (now offline) network.
    expect(await src.has('tokenizer.json')).toBe(false);
    expect(net.calls).toEqual(['HEAD tokenizer.json']);
  });

  it('does not store failed downloads and survives a failing store', async () => {
    const cache = new MemoryCache();
    const net = fakeNetwork({ 'a.json': 3 });
    const src = cachedSource(net.source, cache, 'x');
    await expect(src.read('missing.json')).rejects.toMatchObject({ code: 'MODEL_FILES_MISSING' });
    expect(cache.store.size).toBe(0);

    const full: CacheLike = { ...cache, match: (u) => cache.match(u), keys: () => cache.keys(), delete: (u) => cache.delete(u), put: async () => { throw new DOMException('full', 'QuotaExceededError'); } };
    expect((await cachedSource(net.source, full, 'x').read('a.json')).length).toBe(3);
  });

  it('lists models with file counts and bytes, and clears one or all', async () => {
    const cache = new MemoryCache();
    const a = cachedSource(fakeNetwork({ 'config.json': 10, 'onnx/model.onnx': 1000 }).source, cache, 'owner/a');
    const b = cachedSource(fakeNetwork({ 'config.json': 7 }).source, cache, 'https://example.com/m/b/');
    await a.read('config.json');
    await a.read('onnx/model.onnx');
    await b.read('config.json');
    expect(await listCachedModels(cache)).toEqual([
      { id: 'owner/a', files: 2, bytes: 1010 },
      { id: 'https://example.com/m/b/', files: 1, bytes: 7 },
    ]);
    expect(await clearCachedModels(cache, 'owner/a')).toBe(2);
    expect(await listCachedModels(cache)).toEqual([{ id: 'https://example.com/m/b/', files: 1, bytes: 7 }]);
    await cache.put('https://elsewhere.example/x', new Response('keep'));
    expect(await clearCachedModels(cache)).toBe(1);
    expect(await listCachedModels(cache)).toEqual([]);
    expect(cache.store.size).toBe(1); // entries that are not model files are left alone
  });
});

describe('cache keys and policy', () => {
  it('round-trips ids and paths with odd characters', () => {
    for (const [id, path] of [
      ['owner/name@v1.0', 'onnx/model_q4.onnx'],
      ['https://host/a b/?x=1#y/', 'dir/with space/%file.json'],
    ] as const) {
      expect(parseCacheKey(cacheKey(id, path))).toEqual({ id, path });
      expect(() => new URL(cacheKey(id, path))).not.toThrow();
    }
    expect(parseCacheKey('https://example.com/a/b')).toBeNull();
  });

  it('caches hub models and foreign URLs, not the bundled /models/ folder or user folders', () => {
    const app = 'https://app.example';
    expect(cacheIdFor({ kind: 'hub', repo: 'owner/m' }, app)).toBe('owner/m');
    expect(cacheIdFor({ kind: 'hub', repo: 'owner/m', revision: 'main' }, app)).toBe('owner/m');
    expect(cacheIdFor({ kind: 'hub', repo: 'owner/m', revision: 'abc123' }, app)).toBe('owner/m@abc123');
    expect(cacheIdFor({ kind: 'url', baseUrl: 'https://cdn.example/m' }, app)).toBe('https://cdn.example/m/');
    expect(cacheIdFor({ kind: 'url', baseUrl: `${app}/fixtures/models/tiny/` }, app)).toBe(`${app}/fixtures/models/tiny/`);
    expect(cacheIdFor({ kind: 'url', baseUrl: `${app}/models/demo/` }, app)).toBeNull();
    expect(cacheIdFor({ kind: 'files' }, app)).toBeNull();
  });
});
