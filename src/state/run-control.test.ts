// Cancel at every stage and a second Explain during a run, as the actions handle them: the engine
// here is a port whose calls wait until the test lets them go, and whose cancel() fails the call
// under way with CANCELLED, as the worker does between passes.
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../core/types';
import { AtmanError } from '../core/errors';
import type { ExplainRequestData, ModelInfo } from '../protocol/engine-api';
import { sampleExplanation } from '../testing/sample-explanation';
import { type EnginePort, createActions } from './actions';
import { createAppStore } from './slices/store';

const INFO: ModelInfo = {
  id: 'tiny-gpt2', dtype: 'fp32', backend: 'wasm', device: 'wasm', modelType: 'gpt2', layout: 'causal', acceptsImages: false, numLayers: 2, numHeads: 2,
  vocabSize: 300, maxPositions: 64, controlledLayers: [0, 1], mode: 'multiplicative', attentionSites: 2, selfCheck: null,
};

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

/** An engine whose load and explain wait for release(); cancel() rejects the call under way. */
function heldEngine() {
  const calls: string[] = [];
  let held: { release: () => void; reject: (e: Error) => void } | null = null;
  const hold = <T>(name: string, value: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      calls.push(name);
      held = { release: () => resolve(value()), reject };
    });
  const port: EnginePort = {
    probe: async () => ({ webgpu: false, adapter: null, shaderF16: false }),
    load: () => hold('load', () => INFO),
    explain: (req: ExplainRequestData) => hold(`explain:${req.prompt}`, () => sampleExplanation({ prompt: req.prompt, target: req.target, settings: { ...DEFAULT_SETTINGS, ...req.settings } })),
    generate: () => hold('generate', () => ' more'),
    plan: async () => ({ tokens: [], units: [], settings: DEFAULT_SETTINGS }),
    cachedModels: async () => [],
    clearCache: async () => {},
    cancel: () => {
      calls.push('cancel');
      held?.reject(new AtmanError('CANCELLED', 'Cancelled after 1 of 4 passes.'));
      held = null;
    },
  };
  const release = async () => {
    // Let the actions reach the engine call first.
    for (let i = 0; i < 20 && !held; i++) await Promise.resolve();
    const h = held!;
    held = null;
    h.release();
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  const settle = async () => {
    for (let i = 0; i < 50; i++) await Promise.resolve();
  };
  return { port, calls, release, settle };
}

function setup() {
  const store = createAppStore(memory());
  const engine = heldEngine();
  const actions = createActions(store, () => engine.port, { origin: 'http://localhost', hardStopMs: 60_000 });
  store.getState().setPrompt('first prompt');
  store.getState().setTarget(' target');
  return { store, engine, actions };
}

describe('cancel and a second Explain in the playground', () => {
  it('cancel while the model loads: no run starts, prompt, settings and the last result stay, the next Explain loads and runs', async () => {
    const { store, engine, actions } = setup();
    const last = sampleExplanation();
    store.setState({ explanation: last });
    store.getState().updateSettings({ kappa: null });
    const settings = store.getState().settings;
    const run = actions.explain();
    await engine.settle();
    expect(store.getState().status).toBe('loading');
    actions.cancel();
    await run;
    expect(store.getState()).toMatchObject({ status: 'idle', prompt: 'first prompt', target: ' target', settings, explanation: last, loaded: null });
    expect(store.getState().error?.code).toBe('CANCELLED');
    const next = actions.explain();
    await engine.release(); // load
    await engine.release(); // explain
    await next;
    expect(store.getState().error).toBeNull();
    expect(store.getState().explanation?.prompt).toBe('first prompt');
    expect(engine.calls).toEqual(['load', 'cancel', 'load', 'explain:first prompt']);
  });

  it('cancel after the load answered but before the run started: the model stays loaded, nothing runs', async () => {
    const { store, engine, actions } = setup();
    const run = actions.explain();
    await engine.settle();
    // The worker finished loading just as the user pressed Cancel.
    store.setState({ status: 'cancelling' });
    await engine.release();
    await run;
    expect(store.getState().loaded?.info).toEqual(INFO);
    expect(store.getState().error?.code).toBe('CANCELLED');
    expect(engine.calls).toEqual(['load']);
  });

  it('cancel while explaining keeps the last result; the model is used for the next run without loading again', async () => {
    const { store, engine, actions } = setup();
    const first = actions.explain();
    await engine.release();
    await engine.release();
    await first;
    const shown = store.getState().explanation;
    const second = actions.explain();
    await engine.settle();
    expect(store.getState().status).toBe('explaining');
    actions.cancel();
    await second;
    expect(store.getState().explanation).toBe(shown);
    expect(store.getState().error?.code).toBe('CANCELLED');
    const third = actions.explain();
    await engine.release();
    await third;
    expect(engine.calls).toEqual(['load', 'explain:first prompt', 'explain:first prompt', 'cancel', 'explain:first prompt']);
  });

  it('a second Explain during a run cancels it and explains the inputs as they are now; more clicks make one run', async () => {
    const { store, engine, actions } = setup();
    const first = actions.explain();
    await engine.release(); // load
    await engine.settle();
    expect(store.getState().status).toBe('explaining');
    store.getState().setPrompt('second prompt');
    const again = actions.explain();
    const thrice = actions.explain();
    await first;
    await engine.release();
    await Promise.all([again, thrice]);
    expect(engine.calls).toEqual(['load', 'explain:first prompt', 'cancel', 'explain:second prompt']);
    expect(store.getState().explanation?.prompt).toBe('second prompt');
    expect(store.getState().error).toBeNull();
  });

  it('Explain while a model loads on its own waits for it; Cancel then stops both', async () => {
    const { store, engine, actions } = setup();
    const load = actions.loadModel();
    await engine.settle();
    const queued = actions.explain();
    actions.cancel();
    await load;
    await queued;
    expect(engine.calls).toEqual(['load', 'cancel']);
    expect(store.getState()).toMatchObject({ status: 'idle', loaded: null });
    // Without the cancel, the queued Explain runs once the load is done.
    const load2 = actions.loadModel();
    const queued2 = actions.explain();
    await engine.release();
    await engine.release();
    await Promise.all([load2, queued2]);
    expect(engine.calls).toEqual(['load', 'cancel', 'load', 'explain:first prompt']);
  });

  it('a second Explain while the first one loads its model does not start another run; the inputs are read after the load', async () => {
    const { store, engine, actions } = setup();
    const first = actions.explain();
    await engine.settle();
    store.getState().setPrompt('typed during the load');
    await actions.explain();
    await engine.release();
    await engine.release();
    await first;
    expect(engine.calls).toEqual(['load', 'explain:typed during the load']);
  });
});
