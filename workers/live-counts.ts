// Test builds only (installed under __ATMAN_TEST_HOOKS__): counts the GPU buffers and the ORT
// sessions alive in this worker, for the soak script and the browser tests, which must see
// whether runs leave anything behind. GPU buffers are counted where every WebGPU user creates
// them, GPUDevice.prototype.createBuffer, so onnxruntime-web's own buffers are included.
import type { OrtBackend } from '../src/runtime/backends/backend';
import type { LiveCounts } from '../src/protocol/engine-api';

interface BufferLike {
  size: number;
  destroy(): void;
}
interface Proto {
  prototype: Record<string, unknown>;
}

// Weakly held: a buffer dropped without destroy() counts as alive until it is collected.
const sizes = new WeakMap<BufferLike, number>();
let alive = 0;
let aliveBytes = 0;
let created = 0;
let sessions = 0;
const gone = (size: number): void => {
  alive--;
  aliveBytes -= size;
};
const collected = new FinalizationRegistry<number>(gone);

/** Wraps createBuffer and destroy of the WebGPU prototypes in this worker (once). */
export function countGpuBuffers(): void {
  const g = globalThis as unknown as { GPUDevice?: Proto; GPUBuffer?: Proto };
  if (!g.GPUDevice || !g.GPUBuffer || g.GPUDevice.prototype.__counted) return;
  const create = g.GPUDevice.prototype.createBuffer as (this: unknown, d: unknown) => BufferLike;
  const destroy = g.GPUBuffer.prototype.destroy as (this: BufferLike) => void;
  g.GPUDevice.prototype.__counted = true;
  g.GPUDevice.prototype.createBuffer = function (this: unknown, d: unknown) {
    const b = create.call(this, d);
    created++;
    alive++;
    aliveBytes += b.size;
    sizes.set(b, b.size);
    collected.register(b, b.size, b);
    return b;
  };
  g.GPUBuffer.prototype.destroy = function (this: BufferLike) {
    const size = sizes.get(this);
    if (size !== undefined) {
      sizes.delete(this);
      collected.unregister(this);
      gone(size);
    }
    return destroy.call(this);
  };
}

/** The backend with its sessions counted from creation to release. */
export function countSessions(backend: OrtBackend): OrtBackend {
  return {
    ...backend,
    async createSession(model, external) {
      const s = await backend.createSession(model, external);
      sessions++;
      const release = s.release.bind(s);
      let released = false;
      s.release = async () => {
        if (!released) sessions--;
        released = true;
        return release();
      };
      return s;
    },
  };
}

export function liveCounts(): LiveCounts {
  return { gpuBuffers: alive, gpuBufferBytes: aliveBytes, gpuBuffersCreated: created, sessions };
}
