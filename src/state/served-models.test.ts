// The workshop server's model list is outside input: only well-formed entries pass, bounded.
import { describe, expect, it } from 'vitest';
import { loadsWithoutAsking } from './bootstrap';
import { needsDownloadConsent } from './model-catalog';
import { fetchServedModels, isServedChoice, parseServedModels, servedChoice, servedFor } from './served-models';

describe('served models', () => {
  it('keeps well-formed entries and drops the rest', () => {
    const list = parseServedModels([
      { repo: 'Xenova/gpt2', onnx: ['onnx/model_q4.onnx', '../x', 7], bytes: 130e6 },
      { repo: '../../etc/passwd', onnx: [], bytes: 1 },
      { repo: 'a/b', bytes: Number.NaN },
      null,
      'Xenova/gpt2',
      { __proto__: { repo: 'x/y' } },
    ]);
    expect(list).toEqual([
      { repo: 'Xenova/gpt2', onnx: ['onnx/model_q4.onnx'], bytes: 130e6 },
      { repo: 'a/b', onnx: [], bytes: 0 },
    ]);
    expect(parseServedModels({ repo: 'a/b' })).toEqual([]);
    expect(parseServedModels(Array.from({ length: 500 }, (_, i) => ({ repo: `o/m${i}` })))).toHaveLength(50);
  });

  it('is a same-site model that loads at once, without asking', () => {
    const c = servedChoice({ repo: 'Xenova/gpt2' });
    expect(c).toEqual({ kind: 'url', url: '/workshop/models/Xenova/gpt2/' });
    expect(isServedChoice(c)).toBe(true);
    expect(loadsWithoutAsking(c)).toBe(true);
    expect(needsDownloadConsent(c, 'https://192.168.1.5:8443')).toBe(false);
    expect(servedFor(c, [{ repo: 'Xenova/gpt2', onnx: [], bytes: 0 }])?.repo).toBe('Xenova/gpt2');
    // Anything else under that folder is not a served model.
    expect(isServedChoice({ kind: 'url', url: '/workshop/models/../../models/x/' })).toBe(false);
    expect(isServedChoice({ kind: 'url', url: 'https://evil.example/workshop/models/a/b/' })).toBe(false);
  });

  it('is empty where the server has no list (404, an index page, not JSON, unreachable)', async () => {
    const answer = (body: string, init: ResponseInit) => (async () => new Response(body, init)) as unknown as typeof fetch;
    expect(await fetchServedModels(answer('nope', { status: 404 }))).toEqual([]);
    expect(await fetchServedModels(answer('<!doctype html>', { status: 200, headers: { 'content-type': 'text/html' } }))).toEqual([]);
    expect(await fetchServedModels(answer('{not json', { status: 200, headers: { 'content-type': 'application/json' } }))).toEqual([]);
    expect(await fetchServedModels((async () => Promise.reject(new TypeError('Failed to fetch'))) as unknown as typeof fetch)).toEqual([]);
    const ok = await fetchServedModels(answer(JSON.stringify([{ repo: 'a/b', onnx: ['onnx/model.onnx'], bytes: 5 }]), { status: 200, headers: { 'content-type': 'application/json' } }));
    expect(ok).toEqual([{ repo: 'a/b', onnx: ['onnx/model.onnx'], bytes: 5 }]);
  });
});
