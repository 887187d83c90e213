// The client's crash handling, against in-process fake workers: Comlink over a MessageChannel,
// with 'error' events and terminate() under the test's control. The real worker and the Web
// Lock path are covered in the browser by e2e/engine-client.spec.ts.
import { expose } from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { AtmanError, isAtmanError } from '../core/errors';
import type { EngineApi, ExplainProgress } from '../protocol/engine-api';
import { type EngineClient, type RestartEvent, type WorkerLike, createEngineClient } from './engine-client';

class FakeWorker extends EventTarget implements WorkerLike {
  readonly port: MessagePort;
  terminated = false;
  constructor(api: Partial<EngineApi>) {
    super();
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    expose({ __lifeLock: async () => null, ...api }, port2);
    port1.addEventListener('message', (e) => this.dispatchEvent(new MessageEvent('message', { data: (e as MessageEvent).data })));
    port1.start();
  }
  postMessage(message: unknown, transfer?: Transferable[] | StructuredSerializeOptions): void {
    if (!this.terminated) this.port.postMessage(message, transfer as Transferable[]);
  }
  terminate(): void {
    this.terminated = true;
    this.port.close();
  }
  crash(message: string): void {
    this.dispatchEvent(Object.assign(new Event('error', { cancelable: true }), { message }));
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => {});
let client: EngineClient | null = null;
afterEach(() => client?.dispose());

function setup(api: () => Partial<EngineApi>, maxRestarts?: number) {
  const workers: FakeWorker[] = [];
  const restarts: RestartEvent[] = [];
  client = createEngineClient({
    createWorker: () => {
      const w = new FakeWorker(api());
      workers.push(w);
      return w;
    },
    ...(maxRestarts !== undefined ? { maxRestarts } : {}),
  });
  client.onRestart((e) => restarts.push(e));
  return { c: client, workers, restarts };
}

describe('createEngineClient', () => {
  it('passes calls and plain progress callbacks through', async () => {
    const { c } = setup(() => ({
      async explain(_req, onProgress) {
        await onProgress?.({ loaded: 1, total: 2, elapsedSeconds: 0 } as ExplainProgress);
        return { passes: 2 } as never;
      },
      async cachedModels() {
        return [{ id: 'a', files: 1, bytes: 3 }];
      },
    }));
    const seen: number[] = [];
    expect(await c.explain({ prompt: 'p', target: 't' }, (p) => seen.push(p.loaded))).toEqual({ passes: 2 });
    expect(seen).toEqual([1]);
    expect(await c.cachedModels()).toEqual([{ id: 'a', files: 1, bytes: 3 }]);
  });

  it('on a worker error rejects pending calls with WORKER_CRASHED, restarts and works again', async () => {
    let n = 0;
    const { c, workers, restarts } = setup(() => {
      const gen = ++n;
      return { explain: gen === 1 ? never : async () => ({ passes: gen }) as never };
    });
    const running = c.explain({ prompt: 'p', target: 't' });
    await new Promise((r) => setTimeout(r, 20));
    workers[0]!.crash('boom');
    const err = await running.catch((e: unknown) => e);
    expect(isAtmanError(err, 'WORKER_CRASHED')).toBe(true);
    expect((err as Error).message).toBe('The engine stopped unexpectedly (worker error: boom); it has been restarted. Press Explain to run again.');
    expect(workers[0]!.terminated).toBe(true);
    expect(restarts).toEqual([{ reason: 'crashed', message: (err as Error).message, restarted: true, generation: 2 }]);
    expect(await c.explain({ prompt: 'p', target: 't' })).toEqual({ passes: 2 });
    // Events from the dead worker change nothing.
    workers[0]!.crash('late');
    expect(restarts).toHaveLength(1);
  });

  it('terminate() is the hard stop: CANCELLED, a fresh worker, an event', async () => {
    let n = 0;
    const { c, workers, restarts } = setup(() => ({ generate: ++n === 1 ? never : async () => 'ok' }));
    const running = c.generate('p', 5);
    c.terminate();
    await expect(running).rejects.toMatchObject({ name: 'AtmanError', code: 'CANCELLED' });
    expect(workers).toHaveLength(2);
    expect(restarts[0]).toMatchObject({ reason: 'terminated', restarted: true, generation: 2 });
    expect(await c.generate('p', 5)).toBe('ok');
  });

  it('gives up on a worker that keeps dying, with words', async () => {
    const { c, workers, restarts } = setup(() => ({}), 2);
    for (let i = 0; i < 3; i++) workers.at(-1)!.crash('cannot start');
    expect(workers).toHaveLength(3);
    expect(restarts.map((r) => r.restarted)).toEqual([true, true, false]);
    await expect(c.probe()).rejects.toMatchObject({ code: 'WORKER_CRASHED', message: expect.stringMatching(/3 times in a row.*Reload the page/) });
  });

  it('a lost GPU device: a fresh worker loads the last model again and the call runs again, on WASM the second time, then the loss is the caller\'s', async () => {
    const loads: Array<{ worker: number; backend: string }> = [];
    let losing = 2;
    let started = 0;
    const { c, workers, restarts } = setup(() => {
      const worker = ++started;
      let backend = '';
      return {
        async load(req) {
          loads.push({ worker, backend: req.backend });
          backend = req.backend === 'wasm' ? 'wasm' : 'webgpu';
          return { backend } as never;
        },
        async explain() {
          if (losing > 0) {
            losing--;
            throw new AtmanError('DEVICE_LOST', 'The GPU device was lost (destroyed).');
          }
          return { passes: 2, model: { backend }, run: { notes: [] } } as never;
        },
      };
    });
    await c.load({ source: { kind: 'url', baseUrl: '/m/' }, backend: 'auto' });
    const x = await c.explain({ prompt: 'p', target: 't' });
    expect(loads).toEqual([
      { worker: 1, backend: 'auto' },
      { worker: 2, backend: 'auto' },
      { worker: 3, backend: 'wasm' },
    ]);
    expect(workers.map((w) => w.terminated)).toEqual([true, true, false]);
    expect(restarts.map((r) => [r.reason, r.model?.backend])).toEqual([
      ['device-lost', 'webgpu'],
      ['device-lost', 'wasm'],
    ]);
    expect(x.run.notes).toEqual(['the GPU device was lost during the run (2 times); the model was loaded again and the run finished on WASM']);
    losing = 3;
    await expect(c.explain({ prompt: 'p', target: 't' })).rejects.toMatchObject({ code: 'DEVICE_LOST' });
    expect(workers).toHaveLength(5);
  });
});
