// hubSource against a local server that answers like the hub (src/testing/hub-server.ts): the
// tree listing with Link paging, resolve URLs that redirect, HEAD, and the hub's refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFile, type HubServer, startHubServer } from '../../testing/hub-server';
import { expectCode } from '../../testing/expect-code';
import { hubSource, nextLink } from './hub-source';
import { MemoryCache } from '../../testing/memory-cache';
import { cachedSource } from './model-cache';
import { urlSource } from './model-source';

const bytes = (s: string): { data: Uint8Array } => ({ data: new TextEncoder().encode(s) });

describe('hubSource', () => {
  let hub: HubServer;
  beforeAll(async () => {
    const main = new Map<string, HubFile>([
      ['config.json', bytes('{"model_type":"gpt2"}')],
      ['tokenizer.json', bytes('{}')],
      ['onnx/model_q4f16.onnx', bytes('q4f16 graph')],
      ['onnx/model_q4f16.onnx_data', { size: 3_000_000_000 }],
      ['README.md', bytes('# readme')],
    ]);
    const repos = new Map([['acme/tiny', new Map([['main', main], ['v2', new Map([['config.json', bytes('{"v":2}')]])]])]]);
    // Two entries a page: the listing of main (five files and the onnx/ folder) takes three pages.
    hub = await startHubServer(repos, { pageSize: 2 });
  });
  afterAll(() => hub.close());

  it('lists every file of a revision across Link-paged tree responses, with LFS sizes', async () => {
    const files = await hubSource('acme/tiny', { endpoint: hub.endpoint }).list!();
    expect(files).toEqual([
      { path: 'config.json', size: 21 },
      { path: 'onnx/model_q4f16.onnx', size: 11 },
      { path: 'onnx/model_q4f16.onnx_data', size: 3_000_000_000 },
      { path: 'README.md', size: 8 },
      { path: 'tokenizer.json', size: 2 },
    ]);
    const pages = hub.log.filter((l) => l.startsWith('GET /api/models/acme/tiny/tree/main'));
    expect(pages).toEqual([
      'GET /api/models/acme/tiny/tree/main?recursive=true&expand=false',
      'GET /api/models/acme/tiny/tree/main?recursive=true&expand=false&cursor=2',
      'GET /api/models/acme/tiny/tree/main?recursive=true&expand=false&cursor=4',
    ]);
    expect(await hubSource('acme/tiny', { endpoint: hub.endpoint, revision: 'v2' }).list!()).toEqual([{ path: 'config.json', size: 7 }]);
  });

  it('reads files through the resolve URL and its redirect; HEAD answers has()', async () => {
    const src = hubSource('acme/tiny', { endpoint: `${hub.endpoint}/` });
    hub.log.length = 0;
    expect(new TextDecoder().decode(await src.read('config.json'))).toBe('{"model_type":"gpt2"}');
    expect(hub.log).toEqual(['GET /acme/tiny/resolve/main/config.json', expect.stringMatching(/^GET \/cdn\/[0-9a-f]{64}$/)]);
    expect(await src.has('onnx/model_q4f16.onnx')).toBe(true);
    expect(await src.has('onnx/model.onnx')).toBe(false);
    expect(hub.log.filter((l) => l.startsWith('HEAD')).length).toBeGreaterThanOrEqual(2);
    // A plain base URL laid out like the hub works too (through the same redirects).
    const url = urlSource(`${hub.endpoint}/acme/tiny/resolve/main/`);
    expect(await url.has('tokenizer.json')).toBe(true);
    expect(new TextDecoder().decode(await url.read('tokenizer.json'))).toBe('{}');
  });

  it('says in words what the hub refused: repository, revision, file', async () => {
    await expectCode(hubSource('acme/nothing', { endpoint: hub.endpoint }).list!(), 'MODEL_NOT_FOUND', /hub has no model repository acme\/nothing.*Check the model id/);
    await expectCode(hubSource('acme/tiny', { endpoint: hub.endpoint, revision: 'v9' }).list!(), 'MODEL_NOT_FOUND', /acme\/tiny has no revision "v9"/);
    await expectCode(hubSource('acme/tiny', { endpoint: hub.endpoint }).read('onnx/model.onnx'), 'MODEL_FILES_MISSING', /^acme\/tiny has no file onnx\/model\.onnx\.$/);
    await expectCode(hubSource('acme/tiny', { endpoint: hub.endpoint, revision: 'v2' }).read('tokenizer.json'), 'MODEL_FILES_MISSING', /at revision v2 has no file tokenizer\.json/);
    await expectCode(hubSource('acme/tiny', { endpoint: 'http://127.0.0.1:1' }).list!(), 'NETWORK_UNREACHABLE', /^Couldn't reach 127\.0\.0\.1:1 for the file list of acme\/tiny/);
    expect(() => hubSource('not a repo')).toThrow(/not a Hugging Face model id/);
  });

  it('offline, a cached hub model lists what was downloaded before; a refusal with nothing cached stays a refusal', async () => {
    const cache = new MemoryCache();
    const online = cachedSource(hubSource('acme/tiny', { endpoint: hub.endpoint }), cache, 'acme/tiny');
    expect((await online.list!())!.length).toBe(5);
    await online.read('config.json');
    await online.read('onnx/model_q4f16.onnx');
    const offline = cachedSource(hubSource('acme/tiny', { endpoint: 'http://127.0.0.1:1' }), cache, 'acme/tiny');
    expect(await offline.list!()).toEqual([
      { path: 'config.json', size: 21 },
      { path: 'onnx/model_q4f16.onnx', size: 11 },
    ]);
    await expectCode(cachedSource(hubSource('acme/nothing', { endpoint: hub.endpoint }), cache, 'acme/nothing').list!(), 'MODEL_NOT_FOUND', /no model repository/);
  });

  it('follows rel="next" among other Link relations', () => {
    expect(nextLink('<https://h/a?cursor=2>; rel="next"', 'https://h/a')).toBe('https://h/a?cursor=2');
    expect(nextLink('</a?p=1>; rel="prev", </a?p=3>; rel="next"', 'https://h/a?p=2')).toBe('https://h/a?p=3');
    expect(nextLink('</a?p=1>; rel="prev"', 'https://h/a')).toBeNull();
    expect(nextLink(null, 'https://h/a')).toBeNull();
  });
});
