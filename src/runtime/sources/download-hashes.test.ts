// Downloads checked against the hashes their publisher gives, before a cache keeps them: the local
// hub (src/testing/hub-server.ts) lists the hashes of the real files but sends changed bytes for
// some, as a proxy or a broken transfer would.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeModel } from '../../graph/ir/onnx-ir';
import { readFields } from '../../graph/ir/wire';
import { type HubFile, type HubServer, repoFromFolder, startHubServer } from '../../testing/hub-server';
import { MemoryCache } from '../../testing/memory-cache';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from '../atman/atman-model';
import { createNodeBackend } from '../backends/node-backend';
import { MANIFEST_FILE, canCheckHashes, gitBlobId, manifestCovers, sha256FromEtag, sha256Hex, withManifest } from './file-hashes';
import { folderSource } from './folder-source';
import { hubSource } from './hub-source';
import { listModel } from './model-files';
import { cacheKey, cachedSource } from './model-cache';
import { urlSource } from './model-source';

const GPT2 = 'fixtures/models/tiny-gpt2';
const DEMO = 'public/models/atman-demo-facts';
const backend = createNodeBackend();

/** The graph with a few bytes inside one weight's raw data changed: it still parses and validates. */
function weightFlipped(path: string): Uint8Array {
  const bytes = new Uint8Array(readFileSync(path));
  const m = decodeModel(bytes);
  const wte = m.graph.initializers.find((t) => t.name === 'transformer.wte.weight')!;
  const raw = readFields(wte.raw).find((f) => f.no === 9)!.bytes!;
  const out = bytes.slice();
  for (let i = 0; i < 8; i++) out[raw.byteOffset + 1000 + i * 97]! ^= 0x5a;
  return out;
}

/** A repository's files with some of them sent changed. */
function repoWith(dir: string, served: Record<string, Uint8Array>): Map<string, HubFile> {
  const files = repoFromFolder(dir);
  for (const [path, bytes] of Object.entries(served)) {
    const f = files.get(path) as { data: Uint8Array };
    files.set(path, { data: f.data, served: bytes });
  }
  return files;
}

describe('hashes', () => {
  it('SHA-256 and git blob ids as the hub computes them; etags that carry a SHA-256', async () => {
    const hello = new TextEncoder().encode('hello\n');
    expect(await sha256Hex(hello)).toBe('5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
    // `git hash-object` of the same file
    expect(await gitBlobId(hello)).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
    expect(sha256FromEtag('"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"')).toMatch(/^5891/);
    expect(sha256FromEtag('W/"5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03"')).toMatch(/^5891/);
    expect(sha256FromEtag('"ce013625030ba8dba906f756967f9e9ca394464a"')).toBeNull();
    expect(sha256FromEtag(null)).toBeNull();
  });
});

describe('hub downloads are checked before they are cached', () => {
  let hub: HubServer;
  const flipped = weightFlipped(`${GPT2}/onnx/model.onnx`);
  beforeAll(async () => {
    const tokenizer = readFileSync(`${GPT2}/tokenizer.json`);
    const repos = new Map([
      ['acme/good', new Map([['main', repoFromFolder(GPT2)]])],
      ['acme/flipped', new Map([['main', repoWith(GPT2, { 'onnx/model.onnx': flipped })]])],
      // A small (non-LFS) file, checked by its git blob id.
      ['acme/tokenizer', new Map([['main', repoWith(GPT2, { 'tokenizer.json': new Uint8Array(tokenizer.subarray(0, tokenizer.length - 1)) })]])],
    ]);
    hub = await startHubServer(repos);
  });
  afterAll(() => hub.close());

  it('a weight file whose bytes differ from its listed SHA-256 fails in words and never enters the cache', async () => {
    const cache = new MemoryCache();
    const src = cachedSource(hubSource('acme/flipped', { endpoint: hub.endpoint }), cache, 'acme/flipped');
    await src.list!();
    await src.read('config.json');
    await expectCode(
      src.read('onnx/model.onnx'),
      'DOWNLOAD_CORRUPTED',
      /^onnx\/model\.onnx of acme\/flipped arrived damaged: its SHA-256 is [0-9a-f]{12}…, but the hub says [0-9a-f]{12}… \(265215 bytes received\)\. It was not kept/,
    );
    expect(cache.store.has(cacheKey('acme/flipped', 'config.json'))).toBe(true);
    expect(cache.store.has(cacheKey('acme/flipped', 'onnx/model.onnx'))).toBe(false);
  });

  it('the flipped graph parses and validates, so only the hash stops it: loading it is DOWNLOAD_CORRUPTED; the same bytes unchecked load', async () => {
    await expectCode(AtmanModel.load(hubSource('acme/flipped', { endpoint: hub.endpoint }), backend, { dtype: 'fp32' }), 'DOWNLOAD_CORRUPTED', /onnx\/model\.onnx/);
    // Without the listing's hashes (a plain URL source) the damaged weights load and run: what the check prevents.
    const unchecked = await AtmanModel.load(urlSource(`${hub.endpoint}/acme/flipped/resolve/main/`), backend, { dtype: 'fp32' });
    await unchecked.release();
    const good = await AtmanModel.load(cachedSource(hubSource('acme/good', { endpoint: hub.endpoint }), new MemoryCache(), 'acme/good'), backend, { dtype: 'fp32' });
    await good.release();
  });

  it('a small file is checked by its git blob id', async () => {
    const src = hubSource('acme/tokenizer', { endpoint: hub.endpoint });
    await src.list!();
    await expectCode(src.read('tokenizer.json'), 'DOWNLOAD_CORRUPTED', /tokenizer\.json of acme\/tokenizer arrived damaged: its git blob id is/);
    expect((await src.read('config.json')).length).toBeGreaterThan(0);
  });
});

describe('bundled models carry a manifest of SHA-256s', () => {
  const files = (dir: string, prefix = ''): string[] =>
    readdirSync(join(dir, prefix)).flatMap((n) => (statSync(join(dir, prefix, n)).isDirectory() ? files(dir, `${prefix}${n}/`) : [`${prefix}${n}`]));

  it.each(['atman-demo-facts', 'atman-demo-shapes'])('%s: the committed manifest names every file with its hash (rebuild it with scripts/model-manifest.ts)', async (name) => {
    const dir = `public/models/${name}`;
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as { sha256: Record<string, string> };
    const want: Record<string, string> = {};
    for (const f of files(dir).filter(manifestCovers).sort()) want[f] = await sha256Hex(new Uint8Array(readFileSync(join(dir, f))));
    expect(manifest.sha256).toEqual(want);
  });

  it("a failed read of config.json keeps its own words, not 'not valid JSON'", async () => {
    const inner = folderSource(DEMO);
    const failing = { ...inner, read: async (path: string) => (path === 'config.json' ? Promise.reject(new TypeError('the read failed here')) : inner.read(path)) };
    await expect(listModel(failing)).rejects.toThrow('the read failed here');
    const garbled = { ...inner, read: async (path: string) => (path === 'config.json' ? new TextEncoder().encode('{ not json') : inner.read(path)) };
    await expectCode(listModel(garbled), 'MODEL_UNSUPPORTED', /config\.json of .* is not valid JSON/);
  });

  it('a served file that differs from the manifest is DOWNLOAD_CORRUPTED; the intact model loads through the check', async () => {
    const graph = new Uint8Array(readFileSync(`${DEMO}/onnx/model.onnx`));
    const bad = graph.slice();
    bad[bad.length - 100]! ^= 0xff;
    const hub = await startHubServer(
      new Map([
        ['app/demo', new Map([['main', repoFromFolder(DEMO)]])],
        ['app/demo-bad', new Map([['main', repoWith(DEMO, { 'onnx/model.onnx': bad })]])],
        ['app/no-manifest', new Map([['main', new Map([...repoWith(DEMO, { 'onnx/model.onnx': bad })].filter(([p]) => p !== MANIFEST_FILE))]])],
      ]),
    );
    try {
      const base = (repo: string): string => `${hub.endpoint}/${repo}/resolve/main/`;
      await expectCode(withManifest(urlSource(base('app/demo-bad'), 'atman-demo-facts')).read('onnx/model.onnx'), 'DOWNLOAD_CORRUPTED', /onnx\/model\.onnx of atman-demo-facts arrived damaged: .*its manifest \(sha256\.json\) says/);
      const model = await AtmanModel.load(withManifest(urlSource(base('app/demo'), 'atman-demo-facts')), backend, { selfCheck: false });
      await model.release();
      // A folder without a manifest is read unchecked.
      expect(await withManifest(urlSource(base('app/no-manifest'))).read('onnx/model.onnx')).toEqual(bad);
      // A page that is not a secure context has no SubtleCrypto (a class's LAN page over plain
      // http): it reads unchecked instead of failing with a TypeError that named no cause.
      expect(canCheckHashes()).toBe(true);
      vi.stubGlobal('crypto', {});
      try {
        expect(canCheckHashes()).toBe(false);
        expect(await withManifest(urlSource(base('app/demo-bad'), 'atman-demo-facts')).read('onnx/model.onnx')).toEqual(bad);
        const unchecked = await AtmanModel.load(withManifest(urlSource(base('app/demo'), 'atman-demo-facts')), backend, { selfCheck: false });
        await unchecked.release();
      } finally {
        vi.unstubAllGlobals();
      }
      expect(canCheckHashes()).toBe(true);
    } finally {
      await hub.close();
    }
  });
});
