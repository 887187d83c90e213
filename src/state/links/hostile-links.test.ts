// The hostile share links found by trying the playground as an attacker would, each as a named
// case: a link must never download from another site without asking, never lose the rest of
// the link over one poisoned key, and never echo a huge field back at the user.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/types';
import { MAX_NOTICE_CHARS, MAX_NOTICES } from './link-limits';
import { pageOrigin } from '../link-targets';
import { downloadSite, needsDownloadConsent, sourceFor } from '../model-catalog';
import { decodeShare, decodeUnsafe, deflateText, encodeShare } from './share-codec';
import { applyDecodedShare } from './share-sync';
import { type AppStore, createAppStore, restore } from '../slices/store';
import { sampleExplanation } from '../../testing/sample-explanation';

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

/** The store after opening the link, as the page does. */
async function open(hash: string): Promise<AppStore> {
  const store = createAppStore(memory());
  applyDecodedShare(store, await decodeShare(hash));
  return store;
}

/** Where the store would download the model from, if Explain were pressed now. */
function modelOrigin(store: AppStore): string | null {
  const src = sourceFor(store.getState().modelChoice, pageOrigin());
  return src.kind === 'url' ? new URL(src.baseUrl).origin : null;
}

afterEach(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

describe('hostile share links', () => {
  for (const model of ['url://evil.example/m/', 'url:/%5Cevil.example/m/', 'url:/%5C%5Cevil.example/m/', 'url:/%09/evil.example/m/', 'url:https:evil.example/m/', 'url:HTTPS://evil.example/m/']) {
    it(`model=${model} never downloads from evil.example without asking`, async () => {
      const store = await open(`#v=1&model=${model}&prompt=hello`);
      const s = store.getState();
      expect(s.prompt).toBe('hello');
      if (modelOrigin(store) !== pageOrigin()) {
        expect(s.pendingModel).toEqual(s.modelChoice);
        // The question names the host the browser will really contact.
        expect(downloadSite(s.modelChoice)?.host).toBe('evil.example');
      }
    });
  }

  it('a model on this site loads without asking; one elsewhere asks and names its host', async () => {
    const here = await open('#v=1&model=url:/models/atman-demo-facts/');
    expect(here.getState().pendingModel).toBeNull();
    expect(modelOrigin(here)).toBe(pageOrigin());
    const there = await open('#v=1&model=url:https://models.example.org:8443/m/');
    expect(there.getState().pendingModel).toEqual({ kind: 'url', url: 'https://models.example.org:8443/m/' });
    expect(downloadSite(there.getState().modelChoice)).toEqual({ place: 'outside', host: 'models.example.org:8443', href: 'https://models.example.org:8443/m/' });
  });

  for (const imgurl of ['/%5Cevil.example/a.png', '/%5C%5Cevil.example/a.png', '//evil.example/a.png', '/%09/evil.example/a.png', 'https:evil.example/a.png']) {
    it(`imgurl=${imgurl} never loads a picture from evil.example without asking`, async () => {
      const store = await open(`#v=1&prompt=hi&imgurl=${imgurl}`);
      const pending = store.getState().imagePending;
      if (pending) {
        const reaches = new URL(pending.url, pageOrigin()).origin;
        if (reaches !== pageOrigin()) expect(pending.ask).toBe(true);
      }
      expect(store.getState().prompt).toBe('hi');
    });
  }

  it('a picture on the hub loads without asking; one on another site asks', async () => {
    expect((await open('#v=1&imgurl=https://huggingface.co/datasets/x/resolve/main/a.png')).getState().imagePending?.ask).toBe(false);
    expect((await open('#v=1&imgurl=https://huggingface.co.evil.example/a.png')).getState().imagePending?.ask).toBe(true);
    expect((await open('#v=1&imgurl=https://huggingface.co:8443/a.png')).getState().imagePending?.ask).toBe(true);
  });

  it('a __proto__ or constructor key inside the settings is ignored and the rest of the link kept', async () => {
    const x = sampleExplanation();
    const settings = JSON.stringify(x.settings).slice(1, -1);
    for (const poison of ['"__proto__":{"polluted":1,"mode":"sideways"}', '"constructor":{"prototype":{"polluted":1}}', '"prototype":1']) {
      const json = JSON.stringify({ ...x, settings: '@' }).replace('"@"', `{${poison},${settings}}`);
      const d = await decodeShare(`#v=1&prompt=kept&target=%20too&x=${await deflateText(json)}`);
      expect(d.problems.join(' '), poison).not.toMatch(/could not be read/);
      expect(d.state.prompt).toBe('kept');
      expect(d.state.target).toBe(' too');
      expect(d.state.explanation?.settings).toEqual(x.settings);
      expect(Object.getPrototypeOf(d.state.explanation!.settings)).toBe(Object.prototype);
    }
  });

  it('settings that are only a __proto__ key no longer drop the whole link (prompt included)', async () => {
    const json = JSON.stringify({ ...sampleExplanation(), settings: '@' }).replace('"@"', '{"__proto__":{"mode":"sideways"}}');
    const d = await decodeShare(`#v=1&prompt=kept&x=${await deflateText(json)}`);
    expect(d.problems.join(' ')).not.toMatch(/could not be read/);
    expect(d.state.prompt).toBe('kept');
    expect(d.state.explanation?.settings).toEqual(DEFAULT_SETTINGS);
  });

  it('prototype keys in the steering and measurement fields cost only themselves', async () => {
    const st = await deflateText('{"__proto__":{"polluted":1},"units":[{"label":"a","factor":0,"text":"x","__proto__":{"polluted":2}}],"maxNewTokens":4,"result":null}');
    const fa = await deflateText('{"constructor":{"prototype":{"polluted":1}},"primary":{"__proto__":null}}');
    const d = await decodeUnsafe(`#v=1&prompt=kept&st=${st}&fa=${fa}`, {});
    expect(d.state.prompt).toBe('kept');
    expect(d.state.steer).toEqual({ units: [{ text: 'x', label: 'a', factor: 0 }], maxNewTokens: 4, result: null });
  });

  it('settings keys from the link are read as own keys only', async () => {
    const d = await decodeShare(`#v=1&prompt=p&x=${await deflateText(JSON.stringify({ ...sampleExplanation(), settings: { toString: 1, hasOwnProperty: 2, mode: 'log-additive' } }))}`);
    expect(d.state.explanation).toBeUndefined();
    expect(d.problems.join(' ')).toMatch(/Unknown setting "toString"/);
    expect(d.state.prompt).toBe('p');
  });

  for (const key of ['mode', 'gran', 'tgran', 'post', 'overlap', 'backend', 'dtype', 'model', 'imgurl', 'v', 'evil']) {
    it(`a huge ${key} field is echoed back only shortened`, async () => {
      const d = await decodeShare(`#v=1&model=hub:a/b&${key}=${'a'.repeat(400_000)}&prompt=kept`);
      for (const p of d.problems) expect(p.length).toBeLessThanOrEqual(MAX_NOTICE_CHARS);
      expect(d.problems.length).toBeGreaterThan(0);
      if (key !== 'v') expect(d.state.prompt).toBe('kept');
    });
  }

  it('a link with thousands of bad fields gives a handful of short notices', async () => {
    const fields = Array.from({ length: 5000 }, (_, i) => `k${i}=${'z'.repeat(50)}`).join('&');
    const d = await decodeShare(`#v=1&prompt=kept&${fields}&layers=${'9,'.repeat(600)}x`);
    expect(d.problems.length).toBeLessThanOrEqual(MAX_NOTICES + 1);
    for (const p of d.problems) expect(p.length).toBeLessThanOrEqual(MAX_NOTICE_CHARS);
    expect(d.state.prompt).toBe('kept');
  });

  it('a download the link asked for stays unconfirmed across a reload', async () => {
    const store = createAppStore(memory());
    applyDecodedShare(store, await decodeShare('#v=1&model=url:https://evil.example/m/'));
    const saved = JSON.parse(JSON.stringify({ modelChoice: store.getState().modelChoice, pendingModel: store.getState().pendingModel }));
    expect(restore(saved, store.getState()).pendingModel).toEqual({ kind: 'url', url: 'https://evil.example/m/' });
    // Saved before the field existed: an outside address still counts as unconfirmed.
    expect(restore({ modelChoice: { kind: 'url', url: 'https://evil.example/m/' } }, store.getState()).pendingModel).toEqual({ kind: 'url', url: 'https://evil.example/m/' });
    // Confirmed (or chosen by hand): not asked again.
    expect(restore({ modelChoice: { kind: 'url', url: 'https://evil.example/m/' }, pendingModel: null }, store.getState()).pendingModel).toBeNull();
    // A saved address spelled to fool a text check is refused on the way back in.
    expect(restore({ modelChoice: { kind: 'url', url: '//evil.example/m/' }, pendingModel: null }, store.getState()).modelChoice).toEqual({ kind: 'bundled', id: 'atman-demo-facts' });
  });

  it('a valid link still round-trips unchanged', async () => {
    const hash = await encodeShare({ model: { kind: 'url', url: '/models/atman-demo-facts/' }, backend: 'wasm', prompt: 'p', target: ' t', settings: DEFAULT_SETTINGS, image: { kind: 'url', url: 'https://huggingface.co/a.png' } });
    const d = await decodeShare(hash);
    expect(d.problems).toEqual([]);
    expect(d.state.model).toEqual({ kind: 'url', url: '/models/atman-demo-facts/' });
    expect(needsDownloadConsent(d.state.model!)).toBe(false);
  });
});
