// What the buttons do: load the chosen model on demand, explain, generate, cancel, plan,
// manage the cache. The engine comes in as a port (the worker client in the app, a fake in
// tests). Every failure lands in `error`; prompt, settings and the last result are never touched.
import type { CachedModel, EngineApi, ExplainProgress, LoadProgress, ModelInfo } from '../protocol/engine-api';
import { modelKey, modelLabel, sourceFor } from './model-catalog';
import type { RunError } from './slices/run-slice';
import type { AppStore } from './slices/app-state';
import { variantsKey } from './slices/model-slice';
import { createCompareActions } from './slices/compare-slice';
import { imageForGenerate, imageRequest } from './slices/image-slice';
import { selectStaleReason } from './selectors';
import { createSteerActions } from './slices/steer-slice';

/** The engine as the actions use it: plain callbacks (the client wraps them for the worker). */
export type EnginePort = Pick<EngineApi, 'probe' | 'load' | 'explain' | 'generate' | 'plan' | 'cachedModels' | 'clearCache'> &
  Partial<Pick<EngineApi, 'faithfulness' | 'steer' | 'variants'>> & {
  cancel(): unknown;
  /** hard stop (terminate and respawn the worker) for a run that ignores cancel */
  terminate?(): void;
};

export const WORKER_CRASHED_MESSAGE = 'The engine stopped unexpectedly; it has been restarted. Press Explain to run again.';

export function errorFrom(e: unknown): RunError {
  const err = e as { code?: unknown; message?: unknown; name?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : 'UNEXPECTED';
  const message = typeof err?.message === 'string' && err.message ? err.message : String(e);
  return { code, message };
}

export interface ActionEnv {
  origin: string;
  /** after this long in 'cancelling', the worker is terminated (a pass that never ends) */
  hardStopMs?: number;
  /** test-only: passes per batch */
  batchSize?: number;
  now?: () => number;
}

export type Actions = ReturnType<typeof createActions>;

export function createActions(store: AppStore, engine: () => EnginePort, env: ActionEnv) {
  const now = env.now ?? (() => performance.now());
  const get = store.getState;
  const set = store.setState;
  let planSeq = 0;
  /** a model was picked while another run held the engine: it loads when that run ends */
  let deferredLoad: { done: Promise<void>; resolve: () => void } | null = null;

  const loadKey = () => `${modelKey(get().modelChoice)}|${get().backend}`;

  async function ensureModel(): Promise<ModelInfo> {
    const s = get();
    if (s.pendingModel) {
      throw Object.assign(new Error(`Confirm the download of ${modelLabel(s.pendingModel)} first, or pick another model.`), { code: 'DOWNLOAD_NOT_CONFIRMED' });
    }
    const key = loadKey();
    if (s.loaded?.key === key) return s.loaded.info;
    if (s.modelChoice.kind === 'folder' && !s.folderFiles?.length) {
      throw Object.assign(new Error('The model folder is no longer in memory; open it again.'), { code: 'MODEL_FILES_MISSING' });
    }
    // A plan still in flight describes the old model's tokens: drop it.
    planSeq++;
    set({ loaded: null, loadProgress: null, plan: null });
    const info = await engine().load(
      {
        source: sourceFor(s.modelChoice, env.origin, s.folderFiles ?? undefined),
        backend: s.backend,
        mode: s.settings.mode,
        ...(s.modelChoice.kind === 'hub' && s.modelChoice.dtype ? { dtype: s.modelChoice.dtype } : {}),
      },
      (p: LoadProgress) => set({ loadProgress: p }),
    );
    // The choice may have changed while loading; the key records what was actually loaded.
    set({ loaded: { key, info }, loadProgress: null });
    void refreshCache();
    return info;
  }

  /** what the run under way is for (its status is 'loading' while its model loads) */
  let runFor: 'explaining' | 'generating' | 'loading' | null = null;

  async function run<T>(status: 'explaining' | 'generating' | 'loading', body: () => Promise<T>): Promise<T | undefined> {
    if (get().status !== 'idle') return undefined;
    runFor = status;
    set({ error: null, status: 'loading', progress: null, startedAt: null });
    try {
      await ensureModel();
      // Cancelled while the load was finishing: the model stays loaded, the run does not start.
      if (get().status === 'cancelling') throw Object.assign(new Error('Cancelled.'), { code: 'CANCELLED' });
      set({ status, startedAt: now() });
      return await body();
    } catch (e) {
      set({ error: errorFrom(e) });
      return undefined;
    } finally {
      runFor = null;
      set({ status: 'idle', loadProgress: null, finishedRuns: get().finishedRuns + 1 });
      if (deferredLoad) {
        const { resolve } = deferredLoad;
        deferredLoad = null;
        void (get().loaded?.key !== loadKey() ? loadModel() : Promise.resolve()).finally(resolve);
      }
    }
  }

  /** a second Explain waiting for the run under way to stop */
  let nextExplain: Promise<void> | null = null;

  /**
   * Explain the inputs as they are now. A second Explain while a run is under way cancels that run
   * and then explains: the newest inputs are what the user wants, and finishing a stale run first
   * would only delay them. While an explanation's model loads, nothing needs to change: it reads
   * the inputs once the model is there. Clicks while a run stops make one explanation.
   */
  async function explain(): Promise<void> {
    const st = get().status;
    if (st === 'idle') return explainNow();
    if (st === 'loading' && runFor === 'explaining') return;
    if (!nextExplain) {
      if (st !== 'loading') cancel();
      // Cancel pressed after this click (e.g. during a model load it waits for) drops it too.
      const epoch = cancels;
      nextExplain = (async () => {
        // A model picked during the run may start loading the moment it ends: wait for that too.
        do await whenIdle();
        while (get().status !== 'idle');
        nextExplain = null;
        if (epoch === cancels) await explainNow();
      })();
    }
    return nextExplain;
  }

  function whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      if (get().status === 'idle') return resolve();
      const stop = store.subscribe((s) => {
        if (s.status !== 'idle') return;
        stop();
        resolve();
      });
    });
  }

  async function explainNow(): Promise<void> {
    const { modelChoice } = get();
    await run('explaining', async () => {
      // Read once the model is loaded: a second Explain during the load means these inputs.
      const { prompt, target, settings, speed } = get();
      // Read after the model is loaded: whether it takes the picture is known only then.
      const picture = imageRequest(get());
      const pictureKey = picture.image ? (get().image?.key ?? null) : null;
      const x = await engine().explain(
        { prompt, target, settings, ...speed, ...(env.batchSize ? { batchSize: env.batchSize } : {}), ...picture },
        (p: ExplainProgress) => set({ progress: { done: p.loaded, total: p.total, elapsedSeconds: p.elapsedSeconds } }),
      );
      set({
        explanation: x,
        explanationModelKey: modelKey(modelChoice),
        explanationFromLink: false,
        explanationImageKey: pictureKey,
        selectedUnit: null,
        selectedTarget: null,
        progress: { done: x.passes, total: x.passes, elapsedSeconds: x.seconds },
      });
    });
  }

  async function generate(): Promise<void> {
    const { prompt, generateCount, settings } = get();
    await run('generating', async () => {
      const picture = imageForGenerate(get());
      // With a chat template the reply is the assistant's turn, ending before its end-of-turn token.
      const text = await engine().generate(prompt, generateCount, picture ?? undefined, { chat: settings.chat });
      if (text === '') {
        throw Object.assign(new Error('The model ended the text straight away (it generated its end-of-text token); there is nothing to select.'), {
          code: 'EMPTY_TARGET',
        });
      }
      // The tokenizer lives in the worker: a plan of prompt + generated text gives the token spans.
      const plan = await engine().plan({ prompt, target: text, settings: { kappa: null, granularity: { kind: 'token' }, targetGranularity: 'complete', chat: settings.chat }, ...imageRequest(get()) });
      const tokens = chipSpans(text, plan.tokens.filter((t) => t.role === 'target').map((t) => t.start));
      set({ generation: { base: prompt, text, tokens, selection: [0, Math.max(0, tokens.length - 1)] }, target: text });
    });
  }

  /** Loads the chosen model now (without running anything), so the token preview and layers show. */
  async function loadModel(): Promise<void> {
    if (get().status !== 'idle') {
      if (!deferredLoad) {
        let resolve = () => {};
        const done = new Promise<void>((r) => (resolve = r));
        deferredLoad = { done, resolve };
      }
      return deferredLoad.done;
    }
    await run('loading', async () => {});
  }

  /** Cancel presses so far */
  let cancels = 0;

  function cancel(): void {
    cancels++;
    const st = get().status;
    if (st === 'explaining' || st === 'generating' || st === 'loading') {
      set({ status: 'cancelling' });
      void Promise.resolve(engine().cancel()).catch(() => {});
      const started = get().startedAt;
      setTimeout(() => {
        // Still the same run, still not stopped: a single pass is taking too long.
        if (get().status === 'cancelling' && get().startedAt === started) engine().terminate?.();
      }, env.hardStopMs ?? 20_000);
    }
  }

  /** Units and factors for the current inputs, when the chosen model is loaded (no passes run). */
  async function refreshPlan(): Promise<void> {
    const seq = ++planSeq;
    const s = get();
    if (s.status !== 'idle' || s.loaded?.key !== loadKey() || !s.prompt.trim() || !s.target.trim()) {
      if (s.plan) set({ plan: null });
      return;
    }
    try {
      const plan = await engine().plan({ prompt: s.prompt, target: s.target, settings: s.settings, ...imageRequest(s) });
      if (seq === planSeq) set({ plan });
    } catch {
      // A bad setting or text shows when the user clicks Explain; a preview just disappears.
      if (seq === planSeq) set({ plan: null });
    }
  }

  /**
   * Lists the variants of the chosen hub model (its file list and config.json, no weights) and
   * what a load would take on the chosen backend, for the picker's precision select.
   */
  async function listVariants(): Promise<void> {
    const { modelChoice: c, backend } = get();
    const port = engine();
    if (c.kind !== 'hub' || !port.variants) return;
    const key = variantsKey(c, backend);
    if (get().variants?.key === key) return;
    set({ variants: { key, listing: null, error: null } });
    try {
      const listing = await port.variants({ source: sourceFor(c, env.origin), backend, ...(c.dtype ? { dtype: c.dtype } : {}) });
      if (get().variants?.key === key) set({ variants: { key, listing, error: null } });
    } catch (e) {
      if (get().variants?.key === key) set({ variants: { key, listing: null, error: errorFrom(e).message } });
    }
  }

  async function refreshCache(): Promise<CachedModel[]> {
    try {
      const cached = await engine().cachedModels();
      set({ cached });
      return cached;
    } catch {
      return get().cached;
    }
  }

  async function clearCache(id?: string): Promise<void> {
    try {
      await engine().clearCache(id);
    } catch (e) {
      set({ error: errorFrom(e) });
    }
    await refreshCache();
  }

  async function probe(): Promise<void> {
    try {
      set({ probe: await engine().probe() });
    } catch (e) {
      set({ probe: { webgpu: false, adapter: null, shaderF16: false, reason: `probe failed: ${(e as Error).message}` } });
    }
  }

  /**
   * The worker died (or was stopped) and a new one took its place: it holds no model. Everything else stays.
   * After a lost GPU device the client has already loaded the model again in the new worker (maybe on WASM).
   */
  function engineRestarted(e: { reason: 'crashed' | 'terminated' | 'device-lost'; message?: string; model?: ModelInfo }): void {
    const loaded = get().loaded;
    if (e.reason === 'device-lost' && e.model && loaded) {
      set({ loaded: { key: loaded.key, info: e.model } });
      return;
    }
    set({ loaded: null, loadProgress: null, plan: null });
    if (e.reason === 'crashed') set({ error: { code: 'WORKER_CRASHED', message: e.message || WORKER_CRASHED_MESSAGE } });
  }

  // Compare, faithfulness and steering run through the same run wrapper (status, errors, cancel).
  const analysis = { store, engine, run, explain, staleReason: selectStaleReason, ...(env.batchSize ? { batchSize: env.batchSize } : {}) };
  return { ensureModel, loadModel, listVariants, explain, generate, cancel, refreshPlan, refreshCache, clearCache, probe, engineRestarted, ...createCompareActions(analysis), ...createSteerActions(analysis) };
}

/**
 * Chips that partition the generated text: each token runs to the next token's start, so a
 * selection never loses characters the tokenizer reports with empty spans (e.g. the pieces of
 * a character split over byte tokens); empty chips are dropped.
 */
export function chipSpans(text: string, starts: number[]): Array<{ text: string; start: number; end: number }> {
  const s: number[] = [];
  for (const [i, st] of starts.entries()) s.push(i === 0 ? 0 : Math.min(text.length, Math.max(st, s[i - 1]!)));
  return s
    .map((start, i) => ({ start, end: i + 1 < s.length ? s[i + 1]! : text.length }))
    .filter((c) => c.end > c.start)
    .map((c) => ({ ...c, text: text.slice(c.start, c.end) }));
}
