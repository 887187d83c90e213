// Notices when the GPU device onnxruntime-web computes on is lost (driver reset, the browser
// reclaiming the GPU, device.destroy()) and turns every run that meets it into DEVICE_LOST.
// onnxruntime-web does not recover by itself: its WebGPU backend creates one device per WASM
// instance (exposed as ort.env.webgpu.device) and every session on it fails or stops answering
// once the device's `lost` promise settles. A run in flight may never settle, so it is raced
// against the loss. The client then starts a fresh worker, whose onnxruntime gets a new device
// (or runs on WASM), reloads the model and runs the call again (src/runtime-client/engine-client.ts).
import { AtmanError } from '../src/core/errors';

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
  /** Runs f, failing with DEVICE_LOST if the device is lost before or while it runs. */
  guard<T>(f: () => Promise<T>): Promise<T>;
  /** why the device was lost, or null while it is fine */
  readonly lost: string | null;
}

export function createDeviceWatch(): DeviceWatch {
  let lost: string | null = null;
  let watching = false;
  let onLost: Array<() => void> = [];
  const error = (): AtmanError =>
    new AtmanError('DEVICE_LOST', `The GPU device was lost (${lost}); the engine restarts with a new device or on WASM and runs again.`);

  return {
    watch(device) {
      if (watching || !device) return;
      watching = true;
      void Promise.resolve(device).then(
        (d) =>
          d.lost.then((info) => {
            lost = [info.reason, info.message].filter(Boolean).join(': ') || 'unknown reason';
            const waiting = onLost;
            onLost = [];
            for (const f of waiting) f();
          }),
        () => (watching = false),
      );
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
        // Whatever the backend said after the loss (a failed map, an aborted WASM instance), the cause is the device.
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
