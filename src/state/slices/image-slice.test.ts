import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/types';
import type { ExplainRequestData, ModelInfo } from '../../protocol/engine-api';
import { type EnginePort, createActions } from '../actions';
import {
  type PickedImage,
  base64ToBytes,
  bytesToBase64,
  clampRect,
  imageLinkFields,
  imagePatchFromLink,
  imageRequest,
  isSameSiteUrl,
  scaleRect,
  sniffLinkImageType,
  withImageMarker,
  withoutImageMarker,
} from './image-slice';
import { applyDecodedShare, buildShareLink } from '../links/share-sync';
import { decodeShare } from '../links/share-codec';
import { STORAGE_KEY, createAppStore } from './store';
import { sampleExplanation } from '../../testing/sample-explanation';

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), m };
};

const PNG = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0));
const b64url = (b: Uint8Array) => bytesToBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

const picture = (over: Partial<PickedImage> = {}): PickedImage => ({
  blob: new Blob([PNG], { type: 'image/png' }),
  name: 'dot.png',
  width: 100,
  height: 50,
  origin: 'file',
  key: 'k1',
  ...over,
});

const VLM: ModelInfo = {
  id: 'tiny-idefics3', dtype: 'fp32', backend: 'wasm', device: 'wasm', modelType: 'idefics3', layout: 'image-text-to-text', acceptsImages: true, numLayers: 2, numHeads: 4,
  vocabSize: 455, maxPositions: 256, controlledLayers: [0, 1], mode: 'multiplicative', attentionSites: 2, selfCheck: null,
};
const TEXT: ModelInfo = { ...VLM, id: 'tiny-gpt2', modelType: 'gpt2', layout: 'causal', acceptsImages: false };

describe('image slice helpers', () => {
  it('adds the <image> marker at the start only when missing, and removes it', () => {
    expect(withImageMarker('What colour?')).toBe('<image>What colour?');
    expect(withImageMarker('Look: <image> what?')).toBe('Look: <image> what?');
    expect(withoutImageMarker('<image>What colour?')).toBe('What colour?');
  });

  it('clamps drawn rectangles into the picture (either drag direction) and drops empty ones', () => {
    expect(clampRect({ left: 90, top: 40, width: -30, height: 20 }, 100, 50)).toEqual({ left: 60, top: 40, width: 30, height: 10 });
    expect(clampRect({ left: -5, top: -5, width: 10, height: 10 }, 100, 50)).toEqual({ left: 0, top: 0, width: 5, height: 5 });
    expect(clampRect({ left: 120, top: 0, width: 10, height: 10 }, 100, 50)).toBeNull();
    expect(scaleRect({ left: 10, top: 10, width: 20, height: 10 }, { width: 100, height: 50 }, { width: 50, height: 25 })).toEqual({ left: 5, top: 5, width: 10, height: 5 });
  });

  it('base64 helpers and format sniffing', () => {
    expect(base64ToBytes(bytesToBase64(PNG))).toEqual(PNG);
    expect(base64ToBytes(b64url(PNG))).toEqual(PNG);
    expect(base64ToBytes('not base64!')).toBeNull();
    expect(sniffLinkImageType(PNG)).toBe('image/png');
    expect(sniffLinkImageType(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffLinkImageType(new TextEncoder().encode('<svg></svg>'))).toBeNull();
    expect(isSameSiteUrl('/models/x/a.png', 'http://h')).toBe(true);
    expect(isSameSiteUrl('http://h/a.png', 'http://h')).toBe(true);
    expect(isSameSiteUrl('//other/a.png', 'http://h')).toBe(false);
    expect(isSameSiteUrl('https://other/a.png', 'http://h')).toBe(false);
  });

  it('sends the picture and the drawn regions only to a model that reads pictures', () => {
    const s = { image: picture(), imageRegions: [{ left: 1, top: 2, width: 3, height: 4 }] };
    expect(imageRequest({ ...s, loaded: { key: 'x', info: TEXT } })).toEqual({});
    expect(imageRequest({ ...s, loaded: null })).toEqual({});
    const r = imageRequest({ ...s, loaded: { key: 'x', info: VLM } });
    expect(r.image!.data).toBe(s.image.blob);
    expect(r.image!.name).toBe('dot.png');
    expect(r.imageRegions).toEqual([{ kind: 'rect', rect: { left: 1, top: 2, width: 3, height: 4 } }]);
    expect(imageRequest({ ...s, imageRegions: [], loaded: { key: 'x', info: VLM } })).not.toHaveProperty('imageRegions');
  });
});

describe('image slice in share links', () => {
  const view = { opacity: 0.5, frames: 'tiles' as const };
  const regions = [{ left: 10, top: 10, width: 40, height: 20 }];
  const exact = { type: 'image/png' as const, data: b64url(PNG), width: 100, height: 50, exact: true };

  it('prefers the exact bytes, then the address, then a reduced copy (regions scaled to it), else says it is not in the link', () => {
    const base = { imagePending: null, imageView: view, imageRegions: regions };
    expect(imageLinkFields({ ...base, image: picture({ linkCopy: exact, url: 'https://x/y.png' }) })).toMatchObject({ inLink: 'exact', image: { kind: 'data', data: exact.data }, imageRegions: regions });
    expect(imageLinkFields({ ...base, image: picture({ linkCopy: null, url: 'https://x/y.png' }) })).toMatchObject({ inLink: 'url', image: { kind: 'url', url: 'https://x/y.png' } });
    const reduced = { ...exact, type: 'image/jpeg' as const, width: 50, height: 25, exact: false };
    expect(imageLinkFields({ ...base, image: picture({ linkCopy: reduced }) })).toMatchObject({
      inLink: 'reduced',
      image: { kind: 'data', width: 50, height: 25 },
      imageRegions: [{ left: 5, top: 5, width: 20, height: 10 }],
    });
    expect(imageLinkFields({ ...base, image: picture({ linkCopy: null }) })).toEqual({ inLink: 'not-in-link' });
    expect(imageLinkFields({ ...base, image: null })).toEqual({ inLink: 'none' });
  });

  it('a copied link carries the picture into a fresh page; the share bar learns how it travels', async () => {
    vi.stubGlobal('location', new URL('http://localhost/'));
    try {
      const a = createAppStore(memory());
      a.setState({ prompt: '<image>What?', target: ' red', image: picture({ linkCopy: exact }), imageView: view, imageRegions: regions });
      const link = await buildShareLink(a.getState(), false);
      expect(link.image).toBe('exact');
      const b = createAppStore(memory());
      applyDecodedShare(b, await decodeShare(new URL(link.url).hash));
      const got = b.getState();
      expect(got.prompt).toBe('<image>What?');
      expect(got.image!.origin).toBe('link');
      expect(new Uint8Array(await got.image!.blob.arrayBuffer())).toEqual(PNG);
      expect(got.image!.blob.type).toBe('image/png');
      expect([got.image!.width, got.image!.height]).toEqual([100, 50]);
      expect(got.imageRegions).toEqual(regions);
      expect(got.imageView).toEqual(view);
      // a link naming an outside address waits for a click; one on this site does not
      expect(imagePatchFromLink({ image: { kind: 'url', url: 'https://elsewhere.example/a.png' } }).imagePending).toEqual({ url: 'https://elsewhere.example/a.png', name: 'a.png', ask: true });
      expect(imagePatchFromLink({ image: { kind: 'url', url: '/models/demo/examples/a.png' } }).imagePending?.ask).toBe(false);
      const none = await buildShareLink({ ...a.getState(), image: picture({ linkCopy: null }) }, false);
      expect(none.image).toBe('not-in-link');
      expect(none.url).not.toMatch(/[&#]img=/);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('image slice across reloads', () => {
  it('keeps a small picture, its view, regions and the result computed on it', async () => {
    const storage = memory();
    const a = createAppStore(storage);
    a.setState({
      image: picture({ saved: bytesToBase64(PNG) }),
      imageView: { opacity: 0.2, frames: 'global' },
      imageRegions: [{ left: 1, top: 1, width: 5, height: 5 }],
      explanation: sampleExplanation(),
      explanationImageKey: 'k1',
    });
    const b = createAppStore(storage);
    const s = b.getState();
    expect(s.image!.key).toBe('k1');
    expect(s.explanationImageKey).toBe('k1');
    expect(s.image!.name).toBe('dot.png');
    expect(new Uint8Array(await s.image!.blob.arrayBuffer())).toEqual(PNG);
    expect(s.imageView).toEqual({ opacity: 0.2, frames: 'global' });
    expect(s.imageRegions).toEqual([{ left: 1, top: 1, width: 5, height: 5 }]);
    expect(s.notices).toEqual([]);
  });

  it('a large picture is fetched again from its address, or named in a notice; bad saved fields become defaults', async () => {
    const storage = memory();
    const a = createAppStore(storage);
    a.setState({ image: picture({ saved: null, url: '/models/demo/big.png' }) });
    const b = createAppStore(storage);
    expect(b.getState().image).toBeNull();
    expect(b.getState().imagePending).toEqual({ url: '/models/demo/big.png', name: 'dot.png', ask: false });

    a.setState({ image: picture({ saved: null }) });
    const c = createAppStore(storage);
    expect(c.getState().image).toBeNull();
    expect(c.getState().notices.join(' ')).toMatch(/"dot.png" was too large to keep/);

    const saved = JSON.parse(storage.getItem(STORAGE_KEY)!);
    saved.state.imageState = { image: { name: 'x', url: 'javascript:alert(1)' }, imageView: { opacity: 'lots', frames: 'all' }, imageRegions: [{ left: -1 }] };
    storage.setItem(STORAGE_KEY, JSON.stringify(saved));
    const d = createAppStore(storage);
    expect(d.getState().imageView).toEqual({ opacity: 0.65, frames: 'tiles' });
    expect(d.getState().imageRegions).toEqual([]);
    expect(d.getState().imagePending).toBeNull();
    expect(d.getState().notices.join(' ')).toMatch(/not an image address/);
  });
});

describe('actions with a picture', () => {
  it('explain, plan and generate carry the picture for a model that reads one; the result remembers which picture', async () => {
    const store = createAppStore(memory());
    const seen: ExplainRequestData[] = [];
    const gen: unknown[][] = [];
    const engine: EnginePort = {
      probe: async () => ({ webgpu: false, adapter: null, shaderF16: false, reason: 'none' }),
      load: async () => VLM,
      explain: async (req) => (seen.push(req), sampleExplanation({ prompt: req.prompt, target: req.target, settings: { ...DEFAULT_SETTINGS, ...req.settings } })),
      generate: async (...args) => (gen.push(args), ' red'),
      plan: async (req) => (seen.push(req), { tokens: [{ id: 1, text: 'x', start: 0, end: 1, role: 'prompt' }, { id: 2, text: ' red', start: 0, end: 4, role: 'target' }], units: [], settings: DEFAULT_SETTINGS }),
      cachedModels: async () => [],
      clearCache: async () => {},
      cancel: () => {},
    };
    const actions = createActions(store, () => engine, { origin: 'http://localhost' });
    store.setState({ prompt: '<image>What colour?', target: ' red', image: picture(), imageRegions: [{ left: 0, top: 0, width: 10, height: 10 }] });
    await actions.explain();
    expect(seen[0]!.image!.data).toBe(store.getState().image!.blob);
    expect(seen[0]!.imageRegions).toEqual([{ kind: 'rect', rect: { left: 0, top: 0, width: 10, height: 10 } }]);
    expect(store.getState().explanationImageKey).toBe('k1');
    await actions.generate();
    expect((gen[0]![2] as { data: Blob }).data).toBe(store.getState().image!.blob);
    expect(seen.at(-1)!.image).toBeDefined();
    // a text-only model gets no picture
    engine.load = async () => TEXT;
    store.getState().chooseModel({ kind: 'fixture', id: 'tiny-gpt2' });
    await actions.explain();
    expect(seen.at(-1)!.image).toBeUndefined();
    expect(store.getState().explanationImageKey).toBeNull();
  });
});
