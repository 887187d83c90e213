import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../core/types';
import { DEFAULT_MODEL } from './model-catalog';
import { type SharedState, base64urlToBytes, bytesToBase64url, decodeShare, deflateText, encodeShare, inflateText } from './share-codec';
import { LIMITS } from './sanitize';
import { sampleExplanation } from './test-explanation';

const base: SharedState = {
  model: { kind: 'hub', repo: 'Xenova/gpt2', dtype: 'q8' },
  backend: 'wasm',
  prompt: 'Paris is the capital of France.\nThe Seine runs through it & more = 100% "quoted"',
  target: ' Paris',
  settings: {
    ...DEFAULT_SETTINGS,
    mode: 'log-additive',
    factor: 0,
    kappa: null,
    granularity: { kind: 'delimiter', delimiter: ';\n' },
    targetGranularity: 'token',
    postprocess: 'square',
    layers: [0, 2, 5],
    tokenOverlap: 'partial',
  },
  explanation: null,
};

/** Replaces one field of an encoded hash. */
const withField = (hash: string, key: string, value: string | null): string => {
  const p = new URLSearchParams(hash.slice(1));
  if (value === null) p.delete(key);
  else p.set(key, value);
  return `#${p}`;
};

describe('share codec', () => {
  it('round-trips every field, scores exactly', async () => {
    const x = sampleExplanation();
    const hash = await encodeShare({ ...base, explanation: x });
    expect(hash.startsWith('#v=1&')).toBe(true);
    const d = await decodeShare(hash);
    expect(d.problems).toEqual([]);
    expect(d.state).toEqual({ ...base, explanation: x });
    expect(d.state.explanation!.units.map((u) => u.score)).toEqual(x.units.map((u) => u.score));
  });

  it('round-trips chunks, kappa values and the default model', async () => {
    const s = { ...base, model: DEFAULT_MODEL, backend: 'auto' as const, settings: { ...DEFAULT_SETTINGS, kappa: 0.65, granularity: { kind: 'chunks' as const, chunks: [[0, 5], [7, 12]] as Array<[number, number]> } } };
    const d = await decodeShare(await encodeShare(s));
    expect(d.problems).toEqual([]);
    const { explanation: _, ...rest } = s as SharedState;
    expect(d.state).toEqual(rest);
  });

  it('an empty hash is no link: nothing set, no problems', async () => {
    expect(await decodeShare('')).toEqual({ state: {}, problems: [] });
    expect(await decodeShare('#')).toEqual({ state: {}, problems: [] });
  });

  it('refuses another version as a whole, in words', async () => {
    const hash = withField(await encodeShare(base), 'v', '2');
    const d = await decodeShare(hash);
    expect(d.state).toEqual({});
    expect(d.problems.join(' ')).toMatch(/another version.*v=1/);
    const none = await decodeShare('#prompt=hello');
    expect(none.state).toEqual({});
    expect(none.problems[0]).toMatch(/no version/);
    expect((await decodeShare('#%%%garbage<>')).problems[0]).toMatch(/not an AtMan share link/);
  });

  it('drops damaged scores (bad base64, not deflate, not JSON, wrong shape) and keeps the rest', async () => {
    const good = await encodeShare(base);
    for (const [x, why] of [
      ['!!!not base64!!!', /damaged/],
      ['A', /damaged/],
      [bytesToBase64url(new Uint8Array([1, 2, 3, 4, 250, 251])), /damaged/],
      [await deflateText('{not json'), /not JSON/],
      [await deflateText('{"schemaVersion":1}'), /dropped/],
      [await deflateText(JSON.stringify({ ...sampleExplanation(), units: [{ label: 'x', positions: [99], score: 1, perTarget: [], factors: [] }] })), /outside the text/],
      [await deflateText(JSON.stringify({ ...sampleExplanation(), units: 'nope' })), /units/],
    ] as const) {
      const d = await decodeShare(withField(good, 'x', x));
      expect(d.state.explanation, x).toBeUndefined();
      expect(d.problems.join(' '), x).toMatch(why);
      expect(d.state.prompt).toBe(base.prompt);
      expect(d.state.settings).toEqual(base.settings);
    }
  });

  it('falls back field by field on wrong types and values', async () => {
    let hash = await encodeShare(base);
    hash = withField(hash, 'mode', 'sideways');
    hash = withField(hash, 'factor', 'lots');
    hash = withField(hash, 'kappa', '7');
    hash = withField(hash, 'layers', '1,1');
    hash = withField(hash, 'gran', 'chapter');
    hash = withField(hash, 'backend', 'cuda');
    hash = withField(hash, 'evil', '1');
    const d = await decodeShare(hash);
    expect(d.state.settings).toEqual({ ...base.settings, mode: 'multiplicative', factor: DEFAULT_SETTINGS.factor, kappa: DEFAULT_SETTINGS.kappa, layers: null, granularity: { kind: 'token' } });
    expect(d.state.backend).toBe('auto');
    expect(d.state.prompt).toBe(base.prompt);
    const text = d.problems.join('\n');
    for (const w of [/mode/, /factor/, /kappa/, /layer/, /granularity/, /backend/, /Unknown link fields.*evil/]) expect(text).toMatch(w);
  });

  it('refuses oversized fields', async () => {
    let hash = await encodeShare(base);
    hash = withField(hash, 'prompt', 'a'.repeat(LIMITS.prompt + 1));
    hash = withField(hash, 'target', 'b'.repeat(LIMITS.target + 1));
    hash = withField(hash, 'delim', 'c'.repeat(LIMITS.delimiter + 1));
    const d = await decodeShare(hash);
    expect(d.state.prompt).toBeUndefined();
    expect(d.state.target).toBeUndefined();
    expect(d.state.settings!.granularity).toEqual({ kind: 'token' });
    expect(d.problems.join(' ')).toMatch(/prompt is longer than/);
    expect(d.problems.join(' ')).toMatch(/target is longer than/);
    expect(d.problems.join(' ')).toMatch(/delimiter is longer than/);
    expect((await decodeShare(`#v=1&prompt=${'a'.repeat(600_000)}`)).problems[0]).toMatch(/too long/);
  });

  it('guards against a decompression bomb', async () => {
    const bomb = await deflateText(' '.repeat(5 * 2 ** 20));
    expect(await inflateText(bomb)).toBeNull();
  });

  it('keeps hostile strings as plain text and never lets them choose a model source', async () => {
    const hostile = '<script>alert(1)</script>"><img src=x onerror=alert(1)>';
    const s = { ...base, prompt: hostile, target: `"><img onerror=alert(2)>` };
    const d = await decodeShare(await encodeShare(s));
    expect(d.state.prompt).toBe(hostile);
    expect(d.state.target).toBe(s.target);
    for (const model of ['url:javascript:alert(1)', 'url:data:text/html,<script>', `hub:${hostile}`, 'hub:../../etc/passwd', `bundled:${hostile}`, 'folder:/home/me', 'nonsense']) {
      const m = await decodeShare(withField(await encodeShare(base), 'model', model));
      expect(m.state.model, model).toEqual(DEFAULT_MODEL);
      expect(m.problems.length, model).toBeGreaterThan(0);
    }
    // Problems quote at most 40 characters of what they refuse.
    const long = await decodeShare(withField(await encodeShare(base), 'model', `bundled:${'x'.repeat(200)}`));
    expect(long.problems[0]!.length).toBeLessThan(200);
  });

  it('refuses unknown model ids, accepts well-formed hub ids and paths', async () => {
    const h = await encodeShare(base);
    expect((await decodeShare(withField(h, 'model', 'bundled:no-such-model'))).problems[0]).toMatch(/no bundled model/);
    expect((await decodeShare(withField(h, 'model', 'fixture:tiny-gpt2'), { allowFixtures: false })).state.model).toEqual(DEFAULT_MODEL);
    expect((await decodeShare(withField(h, 'model', 'fixture:tiny-gpt2'), { allowFixtures: true })).state.model).toEqual({ kind: 'fixture', id: 'tiny-gpt2' });
    expect((await decodeShare(withField(h, 'model', 'hub:someone/some-model'))).state.model).toEqual({ kind: 'hub', repo: 'someone/some-model', dtype: 'q8' });
    expect((await decodeShare(withField(withField(h, 'dtype', 'q3'), 'model', 'hub:a/b'))).state.model).toEqual({ kind: 'hub', repo: 'a/b' });
    expect((await decodeShare(withField(h, 'model', 'url:/fixtures/models/tiny-gpt2/'))).state.model).toEqual({ kind: 'url', url: '/fixtures/models/tiny-gpt2/' });
  });

  it('never throws, whatever the input', async () => {
    const inputs = ['#v=1&x=', '#v=1&layers=' + ','.repeat(50), '#v=1&chunks=1-2&gran=chunks', '#v=1&gran=chunks&chunks=5-1', '#v=1&factor=-1', '#v=1&factor=Infinity', '#v=1&kappa=NaN', '#v=1&&&==&', '#v=%ZZ'];
    for (const h of inputs) {
      const d = await decodeShare(h);
      expect(Array.isArray(d.problems), h).toBe(true);
    }
    expect((await decodeShare('#v=1&factor=-1')).state.settings!.factor).toBe(DEFAULT_SETTINGS.factor);
  });

  it('base64url helpers round-trip all byte values', () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    const s = bytesToBase64url(bytes);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(base64urlToBytes(s)).toEqual(bytes);
    expect(base64urlToBytes('a+b/')).toBeNull();
  });
});
