// Notices when the GPU device onnxruntime-web computes on is lost (driver reset, the browser
// reclaiming the GPU, device.destroy()) and turns every run that meets it into DEVICE_LOST.
// onnxruntime-web does not recover by itself: its WebGPU backend creates one device per WASM
// instance (exposed as ort.env.webgpu.device) and every session on it fails or stops answering
// once the device's `lost` promise settles. A run in flight may never settle, so it is raced
// against the loss. The client then starts a fresh worker, whose onnxruntime gets a new device
// (or runs on WASM), reloads the model and runs the call again (src/runtime-client/engine-client.ts).
import { AtmanError, isAtmanError } from '../src/core/errors';

/** how long a failed run waits for the device's `lost` to settle before its error counts as the device's */
const LOST_GRACE_MS = 500;
/** what a backend error says when it met a lost device before `lost` told us */
const DEVICE_LOST_WORDS = /device (is |was )?lost|devicelost/i;

interface LostInfo {
  reason?: string;
  message?: string;
}
export interface DeviceLike {
  lost: Promise<LostInfo>;
  destroy(): void;
}

export interface DeviceWatch {
  /** Starts watching the device that onnxruntime-web's WebGPU backend made (once per worker). */
  watch(device: Promise<DeviceLike> | DeviceLike | undefined): void;
  /**
   * Stops watching: onnxruntime destroys its device itself when the last WebGPU session is released
   * (a model replaced by another), which is no loss; the next watch() takes the device it makes next.
   */
  forget(): void;
  /** Runs f, failing with DEVICE_LOST if the device is lost before or while it runs. */
  guard<T>(f: () => Promise<T>): Promise<T>;
  /** why the device was lost, or null while it is fine */
  readonly lost: string | null;
}

export function createDeviceWatch(): DeviceWatch {
  let lost: string | null = null;
  let watching = false;
  let current: DeviceLike | null = null;
  let onLost: Array<() => void> = [];
  /** resolves when the device is lost, or after ms */
  const settled = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        onLost = onLost.filter((g) => g !== done);
        resolve();
      }
      onLost.push(done);
    });
  const error = (): AtmanError =>
    new AtmanError('DEVICE_LOST', `The GPU device was lost (${lost}); the engine restarts with a new device or on WASM and runs again.`);

  return {
    watch(device) {
      if (!device) return;
      watching = true;
      void Promise.resolve(device).then(
        (d) => {
          // A new device (ORT makes one after it destroyed the last with its last session): a fresh start.
          if (d === current) return;
          current = d;
          lost = null;
          return d?.lost?.then((info) => {
            if (d !== current) return;
            lost = [info.reason, info.message].filter(Boolean).join(': ') || 'unknown reason';
            const waiting = onLost;
            onLost = [];
            for (const f of waiting) f();
          });
        },
        () => (watching = false),
      );
    },
    forget() {
      current = null;
      watching = false;
    },
    async guard(f) {
      if (lost) throw error();
      let stop = () => {};
      const gone = new Promise<never>((_, reject) => {
        stop = () => reject(error());
        onLost.push(stop);
      });
      try {
        return await Promise.race([f(), gone]);
      } catch (e) {
        // A run on a destroyed device fails at its next read-back ("failed to call OrtRun() ...
        // BufferManager::Download ... MapAsyncStatus"), which may come before the browser settles
        // `lost`: give that a moment, then blame the device for whatever the backend said.
        if (!lost && watching && !isAtmanError(e)) await settled(LOST_GRACE_MS);
        if (!lost && DEVICE_LOST_WORDS.test(String((e as Error)?.message ?? e))) lost = 'the backend said so';
        if (lost) throw error();
        throw e;
      } finally {
        onLost = onLost.filter((g) => g !== stop);
      }
    },
    get lost() {
      return lost;
    },
  };
}
