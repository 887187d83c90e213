// onnxruntime-web: WebGPU when the adapter is there, WASM otherwise. The ORT
// module is passed in, so the worker imports 'onnxruntime-web/webgpu' and Node
// tests can pass plain 'onnxruntime-web' (its WASM backend runs in Node too).
import type * as OrtWeb from 'onnxruntime-web';
import type { ExternalFile, OrtBackend } from './backend';

export interface GpuProbe {
  webgpu: boolean;
  adapter: string | null;
  shaderF16: boolean;
  /** the largest storage buffer one shader may bind, in bytes (bounds one batch's biggest tensor) */
  maxBufferBytes?: number;
  /** why WebGPU is not used, in words for the badge */
  reason?: string;
}

// The slice of the WebGPU API the probe reads (lib.dom has no WebGPU types yet).
interface GpuLike {
  requestAdapter(): Promise<{
    info?: { vendor?: string; architecture?: string; description?: string };
    features: { has(f: string): boolean };
    limits?: { maxStorageBufferBindingSize?: number; maxBufferSize?: number };
  } | null>;
}

/**
 * Why there is no navigator.gpu. Browsers expose WebGPU (and SharedArrayBuffer, through
 * cross-origin isolation) only in secure contexts: https, or http on localhost. A page served over
 * plain http on a LAN address (a class on one network) has neither, whatever the browser can do.
 */
export function gpuMissingReason(env: { isSecureContext?: boolean; origin?: string }): string {
  if (env.isSecureContext === false) {
    return `this page is not a secure context (${env.origin ?? 'plain http'}): WebGPU and cross-origin isolation need https or localhost`;
  }
  return 'WebGPU unavailable in this browser';
}

export async function probeWebGpu(): Promise<GpuProbe> {
  const gpu = (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) {
    const g = globalThis as { isSecureContext?: boolean; location?: { origin?: string } };
    return { webgpu: false, adapter: null, shaderF16: false, reason: gpuMissingReason({ ...(g.isSecureContext !== undefined ? { isSecureContext: g.isSecureContext } : {}), ...(g.location?.origin ? { origin: g.location.origin } : {}) }) };
  }
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { webgpu: false, adapter: null, shaderF16: false, reason: 'WebGPU has no adapter' };
    const info = adapter.info;
    const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
    const lim = adapter.limits;
    const maxBufferBytes = Math.min(lim?.maxStorageBufferBindingSize ?? Infinity, lim?.maxBufferSize ?? Infinity);
    return { webgpu: true, adapter: name, shaderF16: adapter.features.has('shader-f16'), ...(Number.isFinite(maxBufferBytes) ? { maxBufferBytes } : {}) };
  } catch (e) {
    return { webgpu: false, adapter: null, shaderF16: false, reason: `WebGPU failed: ${(e as Error).message}` };
  }
}

export function createWebBackend(
  ort: typeof OrtWeb,
  gpu: GpuProbe,
  prefer: 'webgpu' | 'wasm' = 'webgpu',
  /** extra session options (e.g. logSeverityLevel); the execution provider is set here */
  sessionOptions: OrtWeb.InferenceSession.SessionOptions = {},
): OrtBackend {
  const useGpu = prefer === 'webgpu' && gpu.webgpu;
  const ep = useGpu ? 'webgpu' : 'wasm';
  return {
    name: ep,
    device: useGpu ? `WebGPU: ${gpu.adapter}` : `WASM${gpu.reason ? ` (${gpu.reason})` : ''}`,
    // WebGPU without shader-f16 computes fp16 graphs wrongly; WASM runs them on the CPU.
    supportsFp16: useGpu ? gpu.shaderF16 : true,
    Tensor: ort.Tensor,
    createSession: (model: Uint8Array, external: readonly ExternalFile[]) =>
      ort.InferenceSession.create(model, {
        graphOptimizationLevel: 'all',
        ...sessionOptions,
        executionProviders: [ep],
        ...(external.length ? { externalData: external.map((f) => ({ path: f.path, data: f.data })) } : {}),
      }),
  };
}
