// The page's one handle on the engine worker. createEngineClient() owns the worker: it exposes
// the EngineApi as plain promises (progress callbacks are plain functions; the Comlink proxying
// happens here), notices when the worker dies, fails every pending call with WORKER_CRASHED,
// starts a fresh worker and tells the UI through onRestart (which then reloads the model, since
// the new worker has none).
// A lost GPU device (DEVICE_LOST from the worker) is recovered here without the UI: a fresh
// worker (whose onnxruntime makes a new device) loads the last model again, on the same backend
// the first time and on WASM if the device is lost again, and the call runs once more.
import { proxy, wrap, type Remote } from 'comlink';
import { AtmanError, isAtmanError } from '../core/errors';
import type { EngineApi, LoadRequest, ModelInfo } from '../protocol/engine-api';
import { installErrorTransfer } from './comlink-errors';

/** The worker, as the client uses it; tests pass fakes. */
export type WorkerLike = Pick<Worker, 'postMessage' | 'addEventListener' | 'removeEventListener' | 'terminate'>;

function newEngineWorker(): Worker {
  // Name must not start with "em-pthread": ORT's bundle treats such workers as its pthreads.
  return new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'atman-engine' });
}

type Promised<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
type Calls = Exclude<keyof EngineApi, '__lifeLock'>;

export interface RestartEvent {
  /**
   * 'crashed': the worker died by itself; 'terminated': terminate() stopped it; 'device-lost': the
   * GPU device was lost and a fresh worker has the model loaded again (`model`), the call running again
   */
  reason: 'crashed' | 'terminated' | 'device-lost';
  /** what the pending calls were rejected with, in words for the user */
  message: string;
  /** false when the worker kept dying and the client gave up (calls now fail at once) */
  restarted: boolean;
  /** how many workers this client has started so far */
  generation: number;
  /** after 'device-lost': the model as the fresh worker loaded it (its backend may now be WASM) */
  model?: ModelInfo;
}

export type EngineClient = { [K in Calls]: Promised<EngineApi[K]> } & {
  /**
   * Hard stop for a run that does not return (cancel() is only checked between passes):
   * terminates the worker, rejects pending calls with CANCELLED, starts a fresh worker and
   * emits onRestart. The model must be loaded again.
   */
  terminate(): void;
  /** Called after every restart; returns an unsubscribe function. */
  onRestart(cb: (e: RestartEvent) => void): () => void;
  /** how many workers this client has started */
  readonly generation: number;
  /** Stops the worker for good. */
  dispose(): void;
};

export interface EngineClientOptions {
  createWorker?: () => WorkerLike;
  /** crashes in a row (no call succeeding in between) before the client stops restarting */
  maxRestarts?: number;
}

interface Live {
  worker: WorkerLike;
  api: Remote<EngineApi>;
}

export function createEngineClient(opts: EngineClientOptions = {}): EngineClient {
  installErrorTransfer();
  const make = opts.createWorker ?? newEngineWorker;
  const maxRestarts = opts.maxRestarts ?? 3;
  const pending = new Set<(e: Error) => void>();
  const listeners = new Set<(e: RestartEvent) => void>();
  let generation = 0;
  let crashesInARow = 0;
  let disposed = false;
  let gaveUp: string | null = null;
  let current: Live | null = null;
  /** the last model loaded, to load again in a fresh worker after a lost device */
  let lastLoad: LoadRequest | null = null;
  /** a recovery under way, shared by every call that met the same lost device */
  let recovering: { from: Live; done: Promise<ModelInfo> } | null = null;

  function start(): Live {
    const worker = make();
    const live: Live = { worker, api: wrap<EngineApi>(worker) };
    generation++;
    worker.addEventListener('error', (ev) => {
      // Handled here: the crash is reported to the UI through the rejected calls instead.
      ev.preventDefault();
      died(live, 'crashed', ev.message ? `worker error: ${ev.message}` : 'the worker failed');
    });
    worker.addEventListener('messageerror', () => died(live, 'crashed', 'a message from the worker could not be read'));
    // A worker that closes or is killed fires no event at all; the Web Lock it holds for its
    // lifetime is released then, which grants this request.
    live.api.__lifeLock().then(
      (name) => {
        if (name && live === current && typeof navigator !== 'undefined' && navigator.locks) {
          void navigator.locks.request(name, () => died(live, 'crashed', 'the worker closed'));
        }
      },
      () => {},
    );
    return live;
  }

  function died(live: Live, reason: 'crashed' | 'terminated', detail: string): void {
    if (live !== current || disposed) return;
    live.worker.terminate();
    if (reason === 'crashed') crashesInARow++;
    const restarted = crashesInARow <= maxRestarts;
    const message =
      reason === 'terminated'
        ? 'Stopped: the engine was restarted. Press Explain to run again.'
        : restarted
          ? `The engine stopped unexpectedly (${detail}); it has been restarted. Press Explain to run again.`
          : `The engine stopped unexpectedly (${detail}) ${crashesInARow} times in a row and was not restarted. Reload the page.`;
    const err = new AtmanError(reason === 'terminated' ? 'CANCELLED' : 'WORKER_CRASHED', message);
    const rejects = [...pending];
    pending.clear();
    for (const reject of rejects) reject(err);
    if (restarted) current = start();
    else {
      current = null;
      gaveUp = message;
    }
    for (const cb of [...listeners]) cb({ reason, message, restarted, generation });
  }

  function call<R>(run: (api: Remote<EngineApi>) => Promise<R>): Promise<R> {
    if (disposed) return Promise.reject(new AtmanError('CANCELLED', 'The engine was shut down.'));
    if (!current) return Promise.reject(new AtmanError('WORKER_CRASHED', gaveUp ?? 'The engine is not running.'));
    const api = current.api;
    return new Promise<R>((resolve, reject) => {
      pending.add(reject);
      run(api).then(
        (v) => {
          pending.delete(reject);
          crashesInARow = 0;
          resolve(v);
        },
        (e: unknown) => {
          pending.delete(reject);
          reject(e);
        },
      );
    });
  }

  /** A fresh worker with the last model loaded again after `lost` lost its device. */
  function replaceAfterLoss(lost: Live, req: LoadRequest, message: string): Promise<ModelInfo> {
    if (recovering?.from === lost) return recovering.done;
    const done = (async () => {
      if (lost === current && !disposed) {
        lost.worker.terminate();
        const rejects = [...pending];
        pending.clear();
        for (const reject of rejects) reject(new AtmanError('DEVICE_LOST', message));
        current = start();
      }
      const model = await call((api) => api.load(req));
      for (const f of [...listeners]) f({ reason: 'device-lost', message, restarted: true, generation, model });
      return model;
    })();
    recovering = { from: lost, done };
    return done;
  }

  /** A call on the loaded model that survives a lost GPU device (twice: a new device, then WASM). */
  async function onModel<R>(run: (api: Remote<EngineApi>) => Promise<R>): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      const live = current;
      try {
        const out = await call(run);
        if (attempt > 0) noteRecovery(out, attempt);
        return out;
      } catch (e) {
        if (!isAtmanError(e, 'DEVICE_LOST') || !lastLoad || !live || attempt >= 2) throw e;
        await replaceAfterLoss(live, attempt === 0 ? lastLoad : { ...lastLoad, backend: 'wasm' }, e.message);
      }
    }
  }

  current = start();
  const cb = <T>(f: ((p: T) => void) | undefined) => (f ? proxy(f) : undefined);

  return {
    probe: () => call((api) => api.probe()),
    load: (req, onProgress) =>
      call((api) => api.load(req, cb(onProgress))).then((info) => {
        lastLoad = req;
        return info;
      }),
    variants: (req) => call((api) => api.variants(req)),
    explain: (req, onProgress) => onModel((api) => api.explain(req, cb(onProgress))),
    generate: (prompt, maxNewTokens, image, options) => onModel((api) => api.generate(prompt, maxNewTokens, image, options)),
    faithfulness: (req, onProgress) => onModel((api) => api.faithfulness(req, cb(onProgress))),
    steer: (req, onStep) => onModel((api) => api.steer(req, cb(onStep))),
    cancel: () => call((api) => api.cancel()),
    plan: (req) => onModel((api) => api.plan(req)),
    cachedModels: () => call((api) => api.cachedModels()),
    clearCache: (id) => call((api) => api.clearCache(id)),
    __crashForTest: (how) => call((api) => api.__crashForTest(how)),
    __loseDeviceForTest: () => call((api) => api.__loseDeviceForTest()),
    __liveCountsForTest: () => call((api) => api.__liveCountsForTest()),
    terminate() {
      if (current) died(current, 'terminated', 'stopped');
    },
    onRestart(f) {
      listeners.add(f);
      return () => void listeners.delete(f);
    },
    get generation() {
      return generation;
    },
    dispose() {
      if (disposed) return;
      const live = current;
      disposed = true;
      current = null;
      live?.worker.terminate();
      const err = new AtmanError('CANCELLED', 'The engine was shut down.');
      for (const reject of [...pending]) reject(err);
      pending.clear();
    },
  };
}

/** Results that carry a run report say that the run met a lost device and where it finished. */
function noteRecovery(out: unknown, attempts: number): void {
  const run = (out as { run?: { notes?: unknown }; model?: { backend?: unknown } } | null)?.run;
  if (!run || !Array.isArray(run.notes)) return;
  const where = (out as { model?: { backend?: unknown } }).model?.backend === 'wasm' ? 'on WASM' : 'on a new GPU device';
  run.notes.push(`the GPU device was lost during the run${attempts > 1 ? ` (${attempts} times)` : ''}; the model was loaded again and the run finished ${where}`);
}
