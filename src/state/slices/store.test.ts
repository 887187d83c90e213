import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/types';
import type { Explanation, ExplainProgress, ModelInfo } from '../../protocol/engine-api';
import { type EnginePort, chipSpans, createActions } from '../actions';
import { DEFAULT_MODEL, modelKey } from '../model-catalog';
import { selectStaleReason } from '../selectors';
import { applyDecodedShare, buildShareLink } from '../links/share-sync';
import { decodeShare } from '../links/share-codec';
import { STORAGE_KEY, createAppStore } from './store';
import { sampleExplanation } from '../../testing/sample-explanation';

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), m };
};

const INFO: ModelInfo = {
  id: 'tiny-gpt2', dtype: 'fp32', backend: 'wasm', device: 'wasm', modelType: 'gpt2', layout: 'causal', acceptsImages: false, numLayers: 2, numHeads: 2,
  vocabSize: 300, maxPositions: 64, controlledLayers: [0, 1], mode: 'multiplicative', attentionSites: 2, selfCheck: null,
};

function fakeEngine(over: Partial<EnginePort> = {}): EnginePort & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    probe: async () => ({ webgpu: false, adapter: null, shaderF16: false, reason: 'none' }),
    load: async () => (calls.push('load'), INFO),
    explain: async (req, onProgress?: (p: ExplainProgress) => void) => {
      calls.push('explain');
      onProgress?.({ stage: 'passes', loaded: 2, total: 4, elapsedSeconds: 0.1 });
      return sampleExplanation({ prompt: req.prompt, target: req.target, settings: { ...DEFAULT_SETTINGS, ...req.settings } });
    },
    generate: async () => ' the mat',
    plan: async (req) => ({
      tokens: [
        { id: 1, text: 'x', start: 0, end: req.prompt.length, role: 'prompt' },
        { id: 2, text: ' the', start: 0, end: 4, role: 'target' },
        { id: 3, text: ' mat', start: 4, end: 8, role: 'target' },
      ],
      units: [],
      settings: DEFAULT_SETTINGS,
    }),
    cachedModels: async () => [{ id: 'Xenova/gpt2', files: 3, bytes: 1000 }],
    clearCache: async () => {},
    cancel: () => calls.push('cancel'),
    ...over,
  };
}

const env = { origin: 'http://localhost' };

describe('app store', () => {
  it('starts from the defaults', () => {
    const s = createAppStore(memory()).getState();
    expect(s.modelChoice).toEqual(DEFAULT_MODEL);
    expect(s.settings).toEqual(DEFAULT_SETTINGS);
    expect(s.explanation).toBeNull();
    expect(s.status).toBe('idle');
  });

  it('persists texts, settings, model and the last result, and restores them', () => {
    const storage = memory();
    const a = createAppStore(storage);
    const x = sampleExplanation();
    a.getState().setPrompt('kept prompt');
    a.getState().setTarget(' kept');
    a.getState().updateSettings({ mode: 'log-additive', kappa: null });
    a.getState().chooseModel({ kind: 'fixture', id: 'tiny-llama' });
    a.setState({ explanation: x, status: 'explaining', error: { code: 'X', message: 'm' } });
    const b = createAppStore(storage).getState();
    expect(b.prompt).toBe('kept prompt');
    expect(b.target).toBe(' kept');
    expect(b.settings).toEqual({ ...DEFAULT_SETTINGS, mode: 'log-additive', kappa: null });
    expect(b.modelChoice).toEqual({ kind: 'fixture', id: 'tiny-llama' });
    expect(b.explanation).toEqual(x);
    // Run state is not persisted.
    expect(b.status).toBe('idle');
    expect(b.error).toBeNull();
  });

  it('falls back field by field on a tampered save, and says so', () => {
    const storage = memory();
    storage.setItem(STORAGE_KEY, JSON.stringify({ version: 1, state: { prompt: 42, target: ' ok', settings: { factor: 'x', mode: 'log-additive' }, modelChoice: { kind: 'bundled', id: '<script>' }, explanation: { units: 1 }, backend: 'gpu' } }));
    const s = createAppStore(storage).getState();
    expect(s.prompt).toBe('');
    expect(s.target).toBe(' ok');
    expect(s.settings).toEqual({ ...DEFAULT_SETTINGS, mode: 'log-additive' });
    expect(s.modelChoice).toEqual(DEFAULT_MODEL);
    expect(s.explanation).toBeNull();
    expect(s.backend).toBe('auto');
    expect(s.notices.length).toBeGreaterThanOrEqual(4);
  });

  it('survives corrupt JSON, other versions and a throwing storage', () => {
    const bad = memory();
    bad.setItem(STORAGE_KEY, '{not json');
    expect(createAppStore(bad).getState().prompt).toBe('');
    const old = memory();
    old.setItem(STORAGE_KEY, JSON.stringify({ version: 0, state: { prompt: 'old shape' } }));
    expect(createAppStore(old).getState().prompt).toBe('');
    const throwing = { getItem: () => { throw new Error('blocked'); }, setItem: () => { throw new Error('quota'); }, removeItem: () => {} };
    const s = createAppStore(throwing);
    expect(() => s.getState().setPrompt('x')).not.toThrow();
  });

  it('does not persist a picked folder (its files are gone after a reload)', () => {
    const storage = memory();
    createAppStore(storage).getState().chooseModel({ kind: 'folder', name: 'my-model' }, [{ path: 'config.json', file: new Blob(['{}']) }]);
    expect(createAppStore(storage).getState().modelChoice).toEqual(DEFAULT_MODEL);
  });

  it('marks the result stale when settings, texts or the model change, not when they come back', () => {
    const store = createAppStore(memory());
    const x = sampleExplanation();
    store.setState({ prompt: x.prompt, target: x.target, explanation: x, explanationModelKey: modelKey(DEFAULT_MODEL) });
    expect(selectStaleReason(store.getState())).toBeNull();
    store.getState().updateSettings({ factor: 0.5 });
    expect(selectStaleReason(store.getState())).toBe('stale — settings changed');
    store.getState().updateSettings({ factor: 0.1 });
    expect(selectStaleReason(store.getState())).toBeNull();
    store.getState().setTarget(' other');
    expect(selectStaleReason(store.getState())).toMatch(/target changed/);
    store.getState().setTarget(x.target);
    store.getState().chooseModel({ kind: 'fixture', id: 'tiny-llama' });
    expect(selectStaleReason(store.getState())).toMatch(/model changed/);
  });

  it('selecting generated chips sets the target to the span and moves earlier chips into the prompt', () => {
    const store = createAppStore(memory());
    store.setState({ prompt: 'P', generation: { base: 'P', text: ' a b c', tokens: [{ text: ' a', start: 0, end: 2 }, { text: ' b', start: 2, end: 4 }, { text: ' c', start: 4, end: 6 }], selection: [0, 2] } });
    store.getState().selectGenerated(2, 1);
    expect(store.getState().target).toBe(' b c');
    expect(store.getState().prompt).toBe('P a');
    expect(store.getState().generation!.selection).toEqual([1, 2]);
    store.getState().selectGenerated(0, 0);
    expect(store.getState().prompt).toBe('P');
    expect(store.getState().target).toBe(' a');
  });
});

describe('actions', () => {
  it('loads the model once, explains, and records progress and the result', async () => {
    const store = createAppStore(memory());
    store.setState({ prompt: 'The cat sat.', target: ' The cat' });
    const engine = fakeEngine();
    const progress: unknown[] = [];
    store.subscribe((s) => s.progress && progress.push(s.progress));
    const a = createActions(store, () => engine, env);
    await a.explain();
    await a.explain();
    expect(engine.calls).toEqual(['load', 'explain', 'explain']);
    const s = store.getState();
    expect(s.explanation?.prompt).toBe('The cat sat.');
    expect(s.explanationModelKey).toBe(modelKey(DEFAULT_MODEL));
    expect(s.status).toBe('idle');
    expect(progress).toContainEqual({ done: 2, total: 4, elapsedSeconds: 0.1 });
    expect(s.loaded?.info).toEqual(INFO);
  });

  it('a model picked while another one is loading is loaded when that load ends', async () => {
    const store = createAppStore(memory());
    let release = () => {};
    const first = new Promise<void>((r) => (release = r));
    const loaded: string[] = [];
    const engine = fakeEngine({
      load: async (req) => {
        if (loaded.length === 0) await first;
        loaded.push(req.source.kind === 'url' ? req.source.baseUrl : req.source.kind);
        return INFO;
      },
    });
    const a = createActions(store, () => engine, env);
    const startup = a.loadModel();
    store.getState().chooseModel({ kind: 'bundled', id: 'atman-demo-shapes' });
    const picked = a.loadModel();
    release();
    await startup;
    await picked;
    expect(loaded).toHaveLength(2);
    expect(loaded[1]).toMatch(/atman-demo-shapes/);
    expect(store.getState().loaded?.key).toMatch(/atman-demo-shapes/);
    expect(store.getState().status).toBe('idle');
  });

  it('a failed or cancelled run keeps prompt, settings and the last result', async () => {
    const store = createAppStore(memory());
    const x = sampleExplanation();
    store.setState({ prompt: 'p', target: ' t', explanation: x });
    store.getState().updateSettings({ factor: 0.3 });
    let reject!: (e: unknown) => void;
    const engine = fakeEngine({ explain: () => new Promise<Explanation>((_, r) => (reject = r)) });
    const a = createActions(store, () => engine, { ...env, hardStopMs: 1e9 });
    const run = a.explain();
    await vi.waitFor(() => expect(store.getState().status).toBe('explaining'));
    a.cancel();
    expect(store.getState().status).toBe('cancelling');
    expect(engine.calls).toContain('cancel');
    reject(Object.assign(new Error('Cancelled after 1 of 4 passes.'), { code: 'CANCELLED' }));
    await run;
    const s = store.getState();
    expect(s.error).toEqual({ code: 'CANCELLED', message: 'Cancelled after 1 of 4 passes.' });
    expect(s.prompt).toBe('p');
    expect(s.settings.factor).toBe(0.3);
    expect(s.explanation).toBe(x);
    expect(s.status).toBe('idle');
  });

  it('a worker crash shows in words, forgets the loaded model and keeps the rest', async () => {
    const store = createAppStore(memory());
    const x = sampleExplanation();
    store.setState({ prompt: 'p', target: ' t', explanation: x });
    const engine = fakeEngine({ explain: async () => Promise.reject(Object.assign(new Error('The engine stopped unexpectedly (boom); it has been restarted.'), { code: 'WORKER_CRASHED' })) });
    const a = createActions(store, () => engine, env);
    await a.explain();
    a.engineRestarted({ reason: 'crashed', message: 'The engine stopped unexpectedly (boom); it has been restarted.' });
    const s = store.getState();
    expect(s.error?.code).toBe('WORKER_CRASHED');
    expect(s.error?.message).toMatch(/stopped unexpectedly/);
    expect(s.loaded).toBeNull();
    expect(s.explanation).toBe(x);
    expect(s.prompt).toBe('p');
  });

  it('load errors keep their code; a pending download needs consent first', async () => {
    const store = createAppStore(memory());
    store.setState({ prompt: 'p', target: ' t' });
    const engine = fakeEngine({ load: async () => Promise.reject(Object.assign(new Error('missing config.json'), { code: 'MODEL_FILES_MISSING' })) });
    const a = createActions(store, () => engine, env);
    await a.explain();
    expect(store.getState().error).toEqual({ code: 'MODEL_FILES_MISSING', message: 'missing config.json' });
    store.setState({ pendingModel: { kind: 'hub', repo: 'a/b' } });
    await a.explain();
    expect(store.getState().error?.code).toBe('DOWNLOAD_NOT_CONFIRMED');
  });

  it('generate shows the tokens as chips and sets the target', async () => {
    const store = createAppStore(memory());
    store.setState({ prompt: 'The cat sat on', target: '' });
    const a = createActions(store, () => fakeEngine(), env);
    await a.generate();
    const s = store.getState();
    expect(s.target).toBe(' the mat');
    expect(s.generation?.tokens.map((t) => t.text)).toEqual([' the', ' mat']);
    expect(s.generation?.selection).toEqual([0, 1]);
  });

  it('chips partition the generated text, even where token spans are empty', () => {
    expect(chipSpans(' worl\u0018??', [0, 1, 5, 5, 5]).map((c) => c.text)).toEqual([' ', 'worl', '\u0018??']);
    expect(chipSpans(' a b', [0, 2]).map((c) => c.text)).toEqual([' a', ' b']);
  });

  it('plans only for the loaded model and drops stale answers', async () => {
    const store = createAppStore(memory());
    store.setState({ prompt: 'p', target: ' t' });
    const engine = fakeEngine();
    const a = createActions(store, () => engine, env);
    await a.refreshPlan();
    expect(store.getState().plan).toBeNull();
    await a.ensureModel();
    await a.refreshPlan();
    expect(store.getState().plan?.tokens.length).toBe(3);
  });

  it('a plan that was in flight when another model started loading is dropped', async () => {
    const store = createAppStore(memory());
    store.setState({ prompt: 'p', target: ' t' });
    let answer = () => {};
    const asked = new Promise<void>((r) => (answer = r));
    const base = fakeEngine();
    const engine = fakeEngine({ plan: async (req) => (await asked, base.plan(req)) });
    const a = createActions(store, () => engine, env);
    await a.ensureModel();
    const inFlight = a.refreshPlan();
    store.getState().chooseModel({ kind: 'bundled', id: 'atman-demo-shapes' });
    await a.ensureModel();
    answer();
    await inFlight;
    expect(store.getState().plan).toBeNull();
  });
});

describe('share links from the store', () => {
  it('opening a link with scores shows them without a run, and marks them as from the link', async () => {
    const from = createAppStore(memory());
    const x = sampleExplanation();
    from.setState({ prompt: x.prompt, target: x.target, explanation: x });
    Object.assign(globalThis, { location: { origin: 'http://h', pathname: '/', search: '', hash: '' } });
    const link = await buildShareLink(from.getState(), true);
    expect(link.scores).toBe('all');
    const to = createAppStore(memory());
    applyDecodedShare(to, await decodeShare(new URL(link.url).hash));
    const s = to.getState();
    expect(s.explanation).toEqual(x);
    expect(s.explanationFromLink).toBe(true);
    expect(selectStaleReason(s)).toBeNull();
  });

  it('a link too big for the budget goes without scores; a big hub model waits for consent', async () => {
    const store = createAppStore(memory());
    const many = Array.from({ length: 2000 }, (_, i) => ({ label: `u${i}`, positions: [0], score: Math.random(), perTarget: [Math.random(), Math.random()], factors: [] as Array<[number, number]> }));
    store.setState({ explanation: sampleExplanation({ units: many }), modelChoice: { kind: 'hub', repo: 'onnx-community/Qwen2.5-0.5B-Instruct', dtype: 'q4' } });
    const link = await buildShareLink(store.getState(), true);
    expect(link.scores).toBe('none');
    const to = createAppStore(memory());
    applyDecodedShare(to, await decodeShare(new URL(link.url).hash));
    expect(to.getState().pendingModel).toEqual({ kind: 'hub', repo: 'onnx-community/Qwen2.5-0.5B-Instruct', dtype: 'q4' });
  });
});
