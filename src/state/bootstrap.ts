// Start-up order: saved state (already rehydrated) < an opened link; then what the server
// offers (test models, the bundled model's examples), the backend probe and the first model load.
import type { Actions } from './actions';
import { DEFAULT_MODEL, type ModelChoice } from './model-catalog';
import type { Example } from './slices/model-slice';
import { openLinkFromLocation, startUrlSync } from './links/share-sync';
import type { AppStore } from './slices/app-state';
import { fetchServedModels, isServedChoice } from './served-models';

/** Whether the dev/test server serves the random-weight test models (a real deployment does not). */
async function fixturesServed(fetchFn: typeof fetch): Promise<boolean> {
  try {
    const r = await fetchFn('/fixtures/models/tiny-gpt2/config.json', { method: 'HEAD', cache: 'no-store' });
    return r.ok;
  } catch {
    return false;
  }
}

export async function fetchExamples(c: ModelChoice, fetchFn: typeof fetch = fetch): Promise<Example[]> {
  if (c.kind !== 'bundled') return [];
  try {
    const r = await fetchFn(`/models/${encodeURIComponent(c.id)}/examples.json`);
    if (!r.ok) return [];
    const list: unknown = await r.json();
    if (!Array.isArray(list)) return [];
    return list
      .filter((e): e is Example => typeof e?.prompt === 'string' && typeof e?.target === 'string')
      .map((e) => ({ prompt: e.prompt, target: e.target, ...(typeof e.evidence === 'string' ? { evidence: e.evidence } : {}) }));
  } catch {
    return [];
  }
}

/** Local models (bundled, test, picked folder) load at once; downloads wait for a click. */
export const loadsWithoutAsking = (c: ModelChoice): boolean => c.kind === 'bundled' || c.kind === 'fixture' || c.kind === 'folder' || isServedChoice(c);

export interface StartOptions {
  /** explain the demo example on a first visit; the browser tests' `?test` mode turns it off so each test starts idle */
  autoExplain?: boolean;
}

export async function startApp(store: AppStore, actions: Actions, fetchFn: typeof fetch = fetch, opts: StartOptions = {}): Promise<void> {
  // Until the first texts are in place the page has nothing to explain: Explain waits (no window
  // with an empty prompt and a live button).
  store.setState({ starting: true });
  try {
    await startUp(store, actions, fetchFn, opts);
  } finally {
    if (store.getState().starting) store.setState({ starting: false });
  }
}

async function startUp(store: AppStore, actions: Actions, fetchFn: typeof fetch, opts: StartOptions): Promise<void> {
  void actions.probe();
  const [fixtures, servedModels] = await Promise.all([fixturesServed(fetchFn), fetchServedModels(fetchFn)]);
  store.setState({ fixturesAvailable: fixtures, servedModels });
  await openLinkFromLocation(store, { allowFixtures: fixtures });
  if (store.getState().modelChoice.kind === 'fixture' && !fixtures) {
    store.setState({ modelChoice: { ...DEFAULT_MODEL }, notices: [...store.getState().notices, 'The saved test model is not served here; using the demo model.'] });
  }
  startUrlSync(store, { allowFixtures: fixtures });
  const examples = await fetchExamples(store.getState().modelChoice, fetchFn);
  store.setState({ examples });
  // First visit: the demo's first example, explained at sentence level as soon as the model is
  // ready, so the page opens on an explanation rather than an empty form.
  const s = store.getState();
  const firstVisit = (opts.autoExplain ?? true) && s.prompt === '' && s.target === '' && s.explanation === null && examples[0] !== undefined;
  if (s.prompt === '' && s.target === '' && examples[0]) store.setState({ prompt: examples[0].prompt, target: examples[0].target });
  if (firstVisit) store.setState({ settings: { ...s.settings, granularity: { kind: 'sentence' } } });
  store.setState({ starting: false });
  if (loadsWithoutAsking(store.getState().modelChoice) && !store.getState().pendingModel) await actions.loadModel();
  void actions.refreshCache();
  if (firstVisit && store.getState().loaded && store.getState().status === 'idle') await actions.explain();
}

/** Applies a new choice: examples for bundled models, and an immediate load for local ones. */
export async function applyChoice(store: AppStore, actions: Actions, c: ModelChoice, files?: Array<{ path: string; file: Blob }>): Promise<void> {
  store.getState().chooseModel(c, files);
  // The load starts first (synchronously marking the app busy), the examples arrive meanwhile.
  const load = loadsWithoutAsking(c) ? actions.loadModel() : null;
  store.setState({ examples: await fetchExamples(c) });
  await load;
}
