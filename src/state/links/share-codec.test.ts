import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/types';
import { DEFAULT_MODEL } from '../model-catalog';
import { type SharedState, base64urlToBytes, bytesToBase64url, decodeShare, deflateText, encodeShare, inflateText } from './share-codec';
import { LIMITS } from '../sanitize';
import { sampleExplanation } from '../../testing/sample-explanation';

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
    // The reason for the model's dtype travels with its other facts.
    const reasoned = { ...x, model: { ...x.model, dtypeReason: 'auto for WASM, which prefers q4 > q8: chose q4 (onnx/model_q4.onnx, 120 MB).' } };
    expect((await decodeShare(await encodeShare({ ...base, explanation: reasoned }))).state.explanation!.model).toEqual(reasoned.model);
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

  it('carries the model precision: auto (no dtype, or dtype=auto) and each variant', async () => {
    const auto = await encodeShare({ ...base, model: { kind: 'hub', repo: 'onnx-community/x' } });
    expect(new URLSearchParams(auto.slice(1)).has('dtype')).toBe(false);
    expect((await decodeShare(auto)).state.model).toEqual({ kind: 'hub', repo: 'onnx-community/x' });
    const spelled = await decodeShare(withField(auto, 'dtype', 'auto'));
    expect([spelled.state.model, spelled.problems]).toEqual([{ kind: 'hub', repo: 'onnx-community/x' }, []]);
    for (const dtype of ['fp32', 'fp16', 'q8', 'q4', 'q4f16'] as const) {
      const h = await encodeShare({ ...base, model: { kind: 'hub', repo: 'onnx-community/x', dtype } });
      expect((await decodeShare(h)).state.model).toEqual({ kind: 'hub', repo: 'onnx-community/x', dtype });
    }
  });

  it('never throws, whatever the input', async () => {
    const inputs = ['#v=1&x=', '#v=1&layers=' + ','.repeat(50), '#v=1&chunks=1-2&gran=chunks', '#v=1&gran=chunks&chunks=5-1', '#v=1&factor=-1', '#v=1&factor=Infinity', '#v=1&kappa=NaN', '#v=1&&&==&', '#v=%ZZ'];
    for (const h of inputs) {
      const d = await decodeShare(h);
      expect(Array.isArray(d.problems), h).toBe(true);
    }
    expect((await decodeShare('#v=1&factor=-1')).state.settings!.factor).toBe(DEFAULT_SETTINGS.factor);
  });

  it('reads numbers with the engine rules: plain decimal, in range, else the default with a notice naming the range', async () => {
    for (const [field, value, words] of [
      ['factor', '0x10', /factor "0x10" is not a number/],
      ['factor', '', /factor "" is not a number/],
      ['factor', '1e300', /factor must be a number from 0 to 1000/],
      ['kappa', '0b1', /kappa "0b1" is not a number/],
      ['layers', '0,1.5', /layer index must be a whole number from 0 to 9999/],
    ] as const) {
      const d = await decodeShare(`#v=1&${field}=${encodeURIComponent(value)}`);
      expect(d.problems.join(' '), `${field}=${value}`).toMatch(words);
      expect(d.state.settings!.factor).toBe(DEFAULT_SETTINGS.factor);
    }
    expect((await decodeShare('#v=1&factor=2.5e-1')).state.settings!.factor).toBe(0.25);
  });

  it('base64url helpers round-trip all byte values', () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    const s = bytesToBase64url(bytes);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(base64urlToBytes(s)).toEqual(bytes);
    expect(base64urlToBytes('a+b/')).toBeNull();
  });
});

describe('share codec: comparison, faithfulness and steering', () => {
  const summary = {
    of: 'atman:3:abc',
    method: 'atman' as const,
    unitCount: 3,
    ks: [0, 1, 2, 3],
    p0: 0.512345678,
    deletion: [0.512345678, 0.2, 0.1, 0.05],
    insertion: [0.05, 0.3, 0.45, 0.512345678],
    aopc: 0.287654321,
    abpc: 0.1875,
    deletionAuc: 0.2125,
    insertionAuc: 0.325,
    random: { deletion: [0.512345678, 0.3, 0.2, 0.05], insertion: [0.05, 0.2, 0.3, 0.512345678], aopc: 0.2, abpc: -0.0123456, runs: 3 },
    randomAbpc: -0.0123456,
    removalFactor: 0,
    mode: 'multiplicative',
    seconds: 1.5,
  };
  const steer = {
    units: [{ span: [0, 5] as [number, number], label: 'Paris', factor: 0 }, { text: 'Seine', label: 'Seine', factor: 2.5 }],
    maxNewTokens: 4,
    result: {
      prompt: base.prompt,
      mode: 'log-additive' as const,
      maxNewTokens: 4,
      units: [{ label: 'Paris', factor: 0 }],
      steered: { text: ' Lyon', stop: 'eos' as const, tokens: [{ text: ' Lyon', p: 0.4567891, other: 0.1234567 }, { text: '', p: 0.9, other: null, eos: true as const }] },
      unsteered: { text: ' Paris', stop: 'max-new-tokens' as const, tokens: [{ text: ' Paris', p: 0.9, other: 0.01 }] },
      seconds: 0.25,
    },
  };

  it('round-trips the comparison exactly and the numbers rounded to 4 decimals', async () => {
    const x = sampleExplanation();
    const y = sampleExplanation({ method: 'occlusion-delete', sign: 'occlusion sign' });
    const d = await decodeShare(await encodeShare({ ...base, explanation: x, comparison: y, faithfulness: { primary: summary, comparison: null }, steer }));
    expect(d.problems).toEqual([]);
    expect(d.state.comparison).toEqual(y);
    const f = d.state.faithfulness!.primary!;
    expect(f.aopc).toBe(0.2877);
    expect(f.p0).toBe(0.5123);
    expect(f.deletion).toEqual([0.5123, 0.2, 0.1, 0.05]);
    expect(f.randomAbpc).toBe(-0.0123);
    expect(f.ks).toEqual(summary.ks);
    expect(d.state.faithfulness!.comparison).toBeNull();
    expect(d.state.steer!.units).toEqual(steer.units);
    expect(d.state.steer!.maxNewTokens).toBe(4);
    expect(d.state.steer!.result!.steered.tokens[0]).toEqual({ text: ' Lyon', p: 0.4568, other: 0.1235 });
    expect(d.state.steer!.result!.steered.tokens[1]).toEqual({ text: '', p: 0.9, other: null, eos: true });
    expect(d.state.steer!.result!.unsteered.text).toBe(' Paris');
  });

  it('carries a gradient method as the comparison, with integrated gradients\' completeness check', async () => {
    const x = sampleExplanation();
    const y = sampleExplanation({ method: 'integrated-gradients', sign: 'gradient sign' });
    y.run = { ...y.run, completeness: { attributed: -2.05, difference: -2.03, gap: -0.02, relativeGap: 0.0099 } };
    const d = await decodeShare(await encodeShare({ ...base, explanation: x, comparison: y }));
    expect(d.problems).toEqual([]);
    expect(d.state.comparison).toEqual(y);
    const z = sampleExplanation({ method: 'chefer', sign: 'chefer sign' });
    expect((await decodeShare(await encodeShare({ ...base, explanation: x, comparison: z }))).state.comparison).toEqual(z);
  });

  it("round-trips integrated gradients' steps: the result's run.steps and the panel's csteps, each in the number rule's range", async () => {
    const x = sampleExplanation();
    const y = sampleExplanation({ method: 'integrated-gradients', sign: 'gradient sign' });
    y.run = { ...y.run, steps: 8 };
    const view = { scale: 'own' as const, attention: { query: 'target-mean' as const, layers: null, heads: null }, steps: 8 };
    const hash = await encodeShare({ ...base, explanation: x, comparison: y, compareView: view });
    expect(hash).toMatch(/&csteps=8(&|$)/);
    const d = await decodeShare(hash);
    expect(d.problems).toEqual([]);
    expect(d.state.comparison!.run.steps).toBe(8);
    expect(d.state.compareView).toEqual(view);
    // out of range, not whole, not a number: the default (50) with the rule's sentence
    for (const [bad, shown] of [['0', '0'], ['1001', '1001'], ['2.5', '"2.5"'], ['0x10', '"0x10"']] as const) {
      const e = await decodeShare(withField(hash, 'csteps', bad));
      expect(e.state.compareView!.steps, bad).toBe(50);
      expect(e.problems, bad).toEqual([`The number of integration steps must be a whole number from 1 to 1000 (Gauss–Legendre nodes of integrated gradients); got ${shown}. Using 50.`]);
    }
    // a result's steps outside the rule is dropped from the run report; the rest of the result stays
    const wild = await decodeShare(withField(hash, 'cx', await deflateText(JSON.stringify({ ...y, run: { ...y.run, steps: 1e9 } }))));
    expect(wild.state.comparison!.run.steps).toBeUndefined();
    expect(wild.state.comparison!.units).toEqual(y.units);
  });

  it('leaves out damaged or out-of-range parts, in words, and keeps the rest', async () => {
    const good = await encodeShare({ ...base, faithfulness: { primary: summary, comparison: null }, steer });
    const bad = async (key: string, value: unknown) => withField(good, key, await deflateText(JSON.stringify(value)));
    let d = await decodeShare(await bad('fa', { primary: { ...summary, abpc: 2 }, comparison: null }));
    expect(d.state.faithfulness).toBeUndefined();
    expect(d.problems).toEqual(['The faithfulness measurement was dropped: its areas are unreadable.']);
    expect(d.state.steer!.units.length).toBe(2);
    d = await decodeShare(withField(good, 'fa', 'not-deflate!'));
    expect(d.problems[0]).toMatch(/faithfulness measurement in this link is damaged/);
    d = await decodeShare(await bad('st', { units: [{ span: [5, 0], label: 'x', factor: 1 }, { text: 'Seine', label: 'Seine', factor: 99 }], maxNewTokens: 1e9, result: { prompt: 1 } }));
    expect(d.state.steer).toEqual({ units: [], maxNewTokens: 8, result: null });
    expect(d.problems.length).toBe(4);
    d = await decodeShare(await bad('cx', { units: 'none' }));
    expect(d.state.comparison).toBeUndefined();
    expect(d.problems[0]).toMatch(/dropped/);
    // a hand-made method name is refused, not passed on to the views
    d = await decodeShare(await bad('cx', { ...sampleExplanation(), method: '<img>' }));
    expect(d.state.comparison).toBeUndefined();
    expect(d.problems[0]).toMatch(/method is unknown/);
  });
});

describe('share codec: the picture', () => {
  // a 1 x 1 PNG
  const PNG = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0));
  const image = { kind: 'data' as const, type: 'image/png' as const, data: bytesToBase64url(PNG), width: 1, height: 1 };

  it('round-trips an inline picture, its view and the drawn regions', async () => {
    const hash = await encodeShare({ ...base, image, imageView: { opacity: 0.35, frames: 'global' }, imageRegions: [{ left: 0.25, top: 0, width: 0.5, height: 1 }] });
    const d = await decodeShare(hash);
    expect(d.problems).toEqual([]);
    expect(d.state.image).toEqual(image);
    expect(d.state.imageView).toEqual({ opacity: 0.35, frames: 'global' });
    expect(d.state.imageRegions).toEqual([{ left: 0.25, top: 0, width: 0.5, height: 1 }]);
    expect(d.state.prompt).toBe(base.prompt);
  });

  it('round-trips a picture by address; a link without a picture has no picture fields', async () => {
    const d = await decodeShare(await encodeShare({ ...base, image: { kind: 'url', url: 'https://example.org/cat.png?x=1&y=2' } }));
    expect(d.state.image).toEqual({ kind: 'url', url: 'https://example.org/cat.png?x=1&y=2' });
    const none = await encodeShare(base);
    expect(none).not.toMatch(/[&#](img|imgurl|iop|ifr|irg)=/);
    expect((await decodeShare(none)).state.image).toBeUndefined();
  });

  it('leaves out hostile or damaged pictures in words, and keeps the rest', async () => {
    const ok = await encodeShare({ ...base, image, imageRegions: [{ left: 0, top: 0, width: 1, height: 1 }] });
    const cases: Array<[string, string | null, RegExp]> = [
      ['imgurl', 'javascript:alert(1)', /not an image address/],
      ['imgurl', 'data:image/png;base64,AAAA', /not an image address/],
      ['imgurl', '//evil.example/x.png', /not an image address/],
      ['img', 'PGh0bWw-PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0PjwvaHRtbD4', /not a PNG, JPEG, WEBP, GIF picture/],
      ['img', '***', /damaged or too large/],
      ['img', 'A'.repeat(20_000), /damaged or too large/],
      ['imgw', 'wide', /size in this link is unreadable/],
    ];
    for (const [key, value, why] of cases) {
      let hash = withField(ok, key, value);
      if (key === 'imgurl') hash = withField(hash, 'img', null);
      const d = await decodeShare(hash);
      expect(d.state.image, `${key}=${value}`).toBeUndefined();
      expect(d.problems.join(' '), `${key}=${value}`).toMatch(why);
      expect(d.state.prompt).toBe(base.prompt);
    }
    const bad = await decodeShare(withField(withField(ok, 'irg', '1,2,3;4,5,-6,7;x'), 'iop', '7'));
    expect(bad.state.image).toEqual(image);
    expect(bad.state.imageRegions).toEqual([]);
    expect(bad.state.imageView?.opacity).toBe(0.65);
    expect(bad.problems.join(' ')).toMatch(/3 drawn image region\(s\) were not readable/);
    expect(bad.problems.join(' ')).toMatch(/opacity "7" is not between 0 and 1/);
  });

  it('keeps an explanation of a picture (image fields and captioner columns) through the link', async () => {
    const x = sampleExplanation();
    const n = x.tokens.length;
    const img = {
      width: 4,
      height: 2,
      format: 'png',
      placement: 'encoder' as const,
      frames: [{ label: 'image', kind: 'image' as const, index: 0, tileRow: -1, tileCol: -1, rows: 1, cols: 2, firstToken: 0, region: { left: 0, top: 0, width: 4, height: 2 } }],
      tokens: [
        { column: n, frame: 'image', row: 0, col: 0, region: { left: 0, top: 0, width: 2, height: 2 } },
        { column: n + 1, frame: 'image', row: 0, col: 1, region: { left: 2, top: 0, width: 2, height: 2 } },
      ],
    };
    const unit = { label: 'image (1,2)', positions: [n + 1], score: 0.5, perTarget: x.units[0]!.perTarget.map(() => 0.5), factors: [[n + 1, 0.1]] as Array<[number, number]>, image: 0, region: { left: 2, top: 0, width: 2, height: 2 }, imageTokens: [1], regions: [{ left: 2, top: 0, width: 2, height: 2 }] };
    const withImage = { ...x, image: img, units: [...x.units, unit] };
    const d = await decodeShare(await encodeShare({ ...base, explanation: withImage }));
    expect(d.problems).toEqual([]);
    expect(d.state.explanation!.image).toEqual(img);
    expect(d.state.explanation!.units.at(-1)).toEqual(unit);
    // a unit naming an image token the picture does not have is refused
    const broken = { ...withImage, units: [...x.units, { ...unit, imageTokens: [5] }] };
    const d2 = await decodeShare(await encodeShare({ ...base, explanation: broken }));
    expect(d2.state.explanation).toBeUndefined();
    expect(d2.problems.join(' ')).toMatch(/image unit is malformed/);
  });

  it('round-trips the chat setting, with an explanation whose template tokens stay marked', async () => {
    const templated = sampleExplanation({
      tokens: [
        { id: 7, text: '<|im_start|>', start: 0, end: 0, role: 'template', special: true },
        { id: 8, text: 'user', start: 0, end: 0, role: 'template' },
        { id: 1, text: 'The', start: 0, end: 3, role: 'prompt' },
        { id: 2, text: ' cat', start: 3, end: 7, role: 'prompt' },
        { id: 3, text: ' sat.', start: 7, end: 12, role: 'prompt' },
        { id: 9, text: '<|im_end|>', start: 12, end: 12, role: 'template', special: true },
        { id: 1, text: ' The', start: 0, end: 4, role: 'target' },
        { id: 2, text: ' cat', start: 4, end: 8, role: 'target' },
      ],
      units: [
        { label: 'The', positions: [2], score: 0.125, perTarget: [0.1, 0.025], factors: [[2, 0.1]] },
        { label: ' cat', positions: [3], score: -0.5, perTarget: [-0.25, -0.25], factors: [[3, 0.1]] },
        { label: ' sat.', positions: [4], score: 1.5, perTarget: [1, 0.5], factors: [[4, 0.1]] },
      ],
    });
    for (const chat of [true, false]) {
      const s = { ...base, settings: { ...base.settings, chat }, explanation: templated };
      const hash = await encodeShare(s);
      expect(new URLSearchParams(hash.slice(1)).get('chat')).toBe(chat ? 'on' : 'off');
      const d = await decodeShare(hash);
      expect(d.problems).toEqual([]);
      expect(d.state).toEqual(s);
    }
    // a link from before the setting existed reads as the default (on)
    const old = await decodeShare(withField(await encodeShare({ ...base, settings: { ...base.settings, chat: false } }), 'chat', null));
    expect(old.problems).toEqual([]);
    expect(old.state.settings!.chat).toBe(true);
  });

  it('refuses a garbled chat setting in words and keeps the rest', async () => {
    const good = await encodeShare({ ...base, settings: { ...base.settings, chat: false } });
    for (const v of ['maybe', '1', 'true', '', 'ON']) {
      const d = await decodeShare(withField(good, 'chat', v));
      expect(d.state.settings!.chat).toBe(true);
      expect(d.problems.join(' ')).toMatch(/chat must be true .* or false/);
      expect(d.state.settings!.mode).toBe('log-additive');
    }
    const badRole = sampleExplanation();
    (badRole.tokens[0] as { role: string }).role = 'system';
    const d = await decodeShare(await encodeShare({ ...base, explanation: badRole }));
    expect(d.state.explanation).toBeUndefined();
    expect(d.problems.join(' ')).toMatch(/token is malformed/);
  });
});
