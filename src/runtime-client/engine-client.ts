// The page's one handle on the engine worker. createEngineClient() owns the worker: it exposes
// the EngineApi as plain promises (progress callbacks are plain functions; the Comlink proxying
// happens here), notices when the worker dies, fails every pending call with WORKER_CRASHED,
// starts a fresh worker and tells the UI through onRestart (which then reloads the model, since
// the new worker has none).
import { proxy, wrap, type Remote } from 'comlink';
import { AtmanError } from '../core/errors';
import type { EngineApi } from '../protocol/engine-api';
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
  /** 'crashed': the worker died by itself; 'terminated': terminate() stopped it */
  reason: 'crashed' | 'terminated';
  /** what the pending calls were rejected with, in words for the user */
  message: string;
  /** false when the worker kept dying and the client gave up (calls now fail at once) */
  restarted: boolean;
  /** how many workers this client has started so far */
  generation: number;
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

  function died(live: Live, reason: RestartEvent['reason'], detail: string): void {
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

  current = start();
  const cb = <T>(f: ((p: T) => void) | undefined) => (f ? proxy(f) : undefined);

  return {
    probe: () => call((api) => api.probe()),
    load: (req, onProgress) => call((api) => api.load(req, cb(onProgress))),
    variants: (req) => call((api) => api.variants(req)),
    explain: (req, onProgress) => call((api) => api.explain(req, cb(onProgress))),
    generate: (prompt, maxNewTokens, image, options) => call((api) => api.generate(prompt, maxNewTokens, image, options)),
    faithfulness: (req, onProgress) => call((api) => api.faithfulness(req, cb(onProgress))),
    steer: (req, onStep) => call((api) => api.steer(req, cb(onStep))),
    cancel: () => call((api) => api.cancel()),
    plan: (req) => call((api) => api.plan(req)),
    cachedModels: () => call((api) => api.cachedModels()),
    clearCache: (id) => call((api) => api.clearCache(id)),
    __crashForTest: (how) => call((api) => api.__crashForTest(how)),
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
