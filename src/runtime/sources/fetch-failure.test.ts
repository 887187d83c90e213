// Why a download failed, told apart and said in words: a name that does not resolve, a port that
// refuses, an offline browser, CORS, and each HTTP status the hub answers with. Real requests: the
// local hub (src/testing/hub-server.ts), a port just closed, and a host under .invalid.
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubServer, repoFromFolder, startHubServer } from '../../testing/hub-server';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from '../atman/atman-model';
import { createNodeBackend } from '../backends/node-backend';
import { fetchFailure, networkCause, systemCause } from './fetch-failure';
import { hubSource } from './hub-source';
import { urlSource } from './model-source';

const backend = createNodeBackend();
// A browser's fetch says only this, whatever happened.
const browserFailure = (): TypeError => new TypeError('Failed to fetch');
const noCors = (url: string): Promise<boolean> => fetch(url, { method: 'HEAD', mode: 'no-cors' }).then(() => true, () => false);

/** A port that was just listening and is closed now: connecting to it is refused. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('no answer at all', () => {
  let closed: number;
  beforeAll(async () => {
    closed = await closedPort();
  });

  it('a hub name that does not resolve: loading nobody/nothing says so, not that files are missing', async () => {
    const msg = await expectCode(
      AtmanModel.load(hubSource('nobody/nothing', { endpoint: 'http://nonexistent.invalid' }), backend),
      'NETWORK_UNREACHABLE',
      /^Couldn't reach nonexistent\.invalid for the file list of nobody\/nothing: its name does not resolve \(offline, or this network blocks it\); bundled models still work\.$/,
    );
    expect(msg).not.toMatch(/missing|Check the model id/);
  });

  it('a port that refuses, for the hub and for a plain URL (whose probing used to read as "missing config.json")', async () => {
    await expectCode(hubSource('acme/tiny', { endpoint: `http://127.0.0.1:${closed}` }).list!(), 'NETWORK_UNREACHABLE', /Couldn't reach 127\.0\.0\.1:\d+ .*: the connection was refused/);
    await expectCode(
      AtmanModel.load(urlSource(`http://127.0.0.1:${closed}/models/x/`, 'x'), backend),
      'NETWORK_UNREACHABLE',
      /^Couldn't reach 127\.0\.0\.1:\d+ for (config|tokenizer)\.json of x: the connection was refused \(offline, or blocked\); bundled models still work\.$/,
    );
  });

  it('a connection the server drops mid-request is tried once more (a kept-alive socket closed while busy)', async () => {
    let n = 0;
    let drops = 1;
    const s = createServer((req, res) => {
      n++;
      if (drops-- > 0) return req.socket.destroy();
      res.end('{}');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(s.address() as { port: number }).port}/`;
      expect(await (await urlSource(url, 'dropped').read('config.json')).length).toBe(2);
      expect(n).toBe(2);
      // Dropped every time: a refusal in words, after the one retry.
      drops = Infinity;
      await expectCode(urlSource(url, 'dropped').read('config.json'), 'NETWORK_UNREACHABLE', /connection was refused/);
    } finally {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it("Node's system causes, through fetch's cause chain", async () => {
    const dns = await fetch('http://nonexistent.invalid/').catch((e: unknown) => e);
    expect(systemCause(dns)).toBe('dns');
    const refused = await fetch(`http://127.0.0.1:${closed}/`).catch((e: unknown) => e);
    expect(systemCause(refused)).toBe('refused');
    expect(systemCause(new AggregateError([Object.assign(new Error('x'), { code: 'ETIMEDOUT' })]))).toBe('timeout');
    expect(systemCause(browserFailure())).toBeNull();
  });

  describe("a browser's opaque TypeError", () => {
    let hub: HubServer;
    beforeAll(async () => {
      hub = await startHubServer(new Map([['acme/tiny', new Map([['main', repoFromFolder('fixtures/models/tiny-gpt2')]])]]));
    });
    afterAll(() => hub.close());

    it('offline (navigator.onLine false)', async () => {
      const e = await fetchFailure('https://huggingface.co/api/models/a/b', 'the file list of a/b', browserFailure(), { onLine: false, reachable: noCors });
      expect(e.code).toBe('NETWORK_UNREACHABLE');
      expect(e.message).toBe("Couldn't reach huggingface.co for the file list of a/b: this device is offline; bundled models still work.");
    });

    it('online, and a no-cors request gets an answer: CORS refused the real one', async () => {
      const url = `${hub.endpoint}/api/models/acme/tiny/tree/main`;
      expect(await networkCause(url, browserFailure(), { onLine: true, reachable: noCors })).toBe('cors');
      const e = await fetchFailure(url, 'the file list of acme/tiny', browserFailure(), { onLine: true, reachable: noCors });
      expect(e.code).toBe('NETWORK_CORS');
      expect(e.message).toMatch(/^127\.0\.0\.1:\d+ answered, but the browser did not let this page read the file list of acme\/tiny \(CORS: .*\); bundled models still work\.$/);
    });

    it('online, and nothing answers even without CORS: offline or blocked', async () => {
      expect(await networkCause(`http://127.0.0.1:${closed}/x`, browserFailure(), { onLine: true, reachable: noCors })).toBe('unreachable');
      expect(await networkCause('http://nonexistent.invalid/x', browserFailure(), { onLine: true, reachable: noCors })).toBe('unreachable');
      const e = await fetchFailure('https://huggingface.co/x', 'the file list of a/b', browserFailure(), { onLine: true, reachable: async () => false });
      expect(e.message).toBe("Couldn't reach huggingface.co for the file list of a/b: offline or blocked; bundled models still work.");
    });
  });
});

describe('HTTP answers, by what they mean', () => {
  let hub: HubServer;
  beforeAll(async () => {
    const repos = new Map([['acme/tiny', new Map([['main', repoFromFolder('fixtures/models/tiny-gpt2')]])]]);
    hub = await startHubServer(repos, {
      refuse: {
        'acme/gated': { status: 403, code: 'GatedRepo', message: 'Access to model acme/gated is restricted.' },
        'acme/private': { status: 401 },
        'acme/forbidden': { status: 403 },
        'acme/busy': { status: 429 },
        'acme/down': { status: 503 },
      },
    });
  });
  afterAll(() => hub.close());
  const list = (repo: string) => hubSource(repo, { endpoint: hub.endpoint }).list!();

  it('401 RepoNotFound and 404 RevisionNotFound: no such model (check the id)', async () => {
    await expectCode(list('nobody/nothing'), 'MODEL_NOT_FOUND', /^The hub has no model repository nobody\/nothing .*Check the model id\.$/);
    await expectCode(hubSource('acme/tiny', { endpoint: hub.endpoint, revision: 'v9' }).list!(), 'MODEL_NOT_FOUND', /no revision "v9"/);
    await expectCode(list('acme/private'), 'MODEL_NOT_FOUND', /no model repository acme\/private to a visitor without sign-in \(HTTP 401\): it does not exist, or it is private or gated/);
  });

  it('403: gated or private, which needs a sign-in', async () => {
    await expectCode(list('acme/gated'), 'ACCESS_DENIED', /acme\/gated is gated: its terms must be accepted/);
    await expectCode(list('acme/forbidden'), 'ACCESS_DENIED', /refused access to the file list of acme\/forbidden \(HTTP 403\): it is private or gated/);
  });

  it('429 and 5xx: wait, or try later; the model id is not the problem', async () => {
    await expectCode(list('acme/busy'), 'RATE_LIMITED', /limiting requests from this network \(HTTP 429, too many requests\).*try again in a minute\. Bundled models still work\./);
    await expectCode(list('acme/down'), 'SERVER_ERROR', /failed on its side \(HTTP 503\) for the file list of acme\/down; try again later\./);
  });

  it('a repository without a file: MODEL_FILES_MISSING; has() is false only when the hub says 404', async () => {
    const src = hubSource('acme/tiny', { endpoint: hub.endpoint });
    await expectCode(src.read('onnx/model_fp16.onnx'), 'MODEL_FILES_MISSING', /^acme\/tiny has no file onnx\/model_fp16\.onnx\.$/);
    expect(await src.has('onnx/model_fp16.onnx')).toBe(false);
    await expectCode(hubSource('acme/down', { endpoint: hub.endpoint }).has('config.json'), 'SERVER_ERROR');
    // A plain URL: the same statuses, the same words.
    await expectCode(urlSource(`${hub.endpoint}/acme/busy/resolve/main/`, 'busy').read('config.json'), 'RATE_LIMITED');
    await expectCode(urlSource(`${hub.endpoint}/acme/tiny/resolve/main/`, 'tiny').read('nothing.json'), 'MODEL_FILES_MISSING', /has no nothing\.json of tiny \(HTTP 404\)/);
  });
});
