import { wrap, releaseProxy, type Remote } from 'comlink';
import type { EngineApi } from '../protocol/engine-api';
import { installErrorTransfer } from './comlink-errors';

export interface EngineHandle {
  api: Remote<EngineApi>;
  /** Hard stop: the only way to interrupt a running ORT session. */
  terminate(): void;
}

export function spawnEngine(): EngineHandle {
  installErrorTransfer();
  // Name must not start with "em-pthread": ORT's bundle treats such workers as its pthreads.
  const worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), {
    type: 'module',
    name: 'atman-engine',
  });
  const api = wrap<EngineApi>(worker);
  return {
    api,
    terminate() {
      api[releaseProxy]();
      worker.terminate();
    },
  };
}
