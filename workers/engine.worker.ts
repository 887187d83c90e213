/// <reference lib="webworker" />
// Temporary smoke engine: proves ORT WebGPU/WASM, threads and the RPC boundary work in a
// bundled worker. The real engine from src/runtime replaces the two methods.
import { expose } from 'comlink';
import * as ort from 'onnxruntime-web/webgpu';
import type { Backend, EngineApi, ProbeResult, SmokeResult } from '../src/protocol/engine-api';
import { AtmanError } from '../src/core/errors';
import { installErrorTransfer } from '../src/runtime-client/comlink-errors';

type GpuAdapterLike = {
  features: { has(f: string): boolean };
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
};
type GpuLike = { requestAdapter(): Promise<GpuAdapterLike | null> };

async function probe(): Promise<ProbeResult> {
  const gpu = (self.navigator as { gpu?: GpuLike }).gpu;
  if (!gpu) return { webgpu: false, adapter: null, shaderF16: false, reason: 'navigator.gpu is missing' };
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { webgpu: false, adapter: null, shaderF16: false, reason: `requestAdapter threw: ${String(e)}` };
  }
  if (!adapter) return { webgpu: false, adapter: null, shaderF16: false, reason: 'requestAdapter returned null' };
  const i = adapter.info ?? {};
  const name = [i.vendor, i.architecture, i.description || i.device].filter(Boolean).join(' / ');
  return { webgpu: true, adapter: name || 'unknown', shaderF16: adapter.features.has('shader-f16') };
}

// Threads need SharedArrayBuffer (cross-origin isolation). At least 2 so the pthread path,
// which loads this very bundle again, is exercised even on 2-core CI machines.
const wasmThreads = self.crossOriginIsolated ? Math.max(2, Math.min(4, navigator.hardwareConcurrency || 2)) : 1;

async function runOnnx(modelUrl: string, backend: Backend): Promise<SmokeResult> {
  if (backend === 'webgpu') {
    const p = await probe();
    // ORT's own message here is "no available backend found", which names no cause.
    if (!p.webgpu) throw new AtmanError('BACKEND_FAILED', `WebGPU is not available: ${p.reason}`);
  }
  ort.env.wasm.numThreads = wasmThreads;
  const session = await ort.InferenceSession.create(modelUrl, {
    executionProviders: [backend],
    // Warnings (e.g. shape ops placed on CPU) are expected for int64 graphs and go to console.error.
    logSeverityLevel: 3,
  });
  try {
    const seq = 4;
    const i64 = (f: (i: number) => number) => new ort.Tensor('int64', BigInt64Array.from({ length: seq }, (_, i) => BigInt(f(i))), [1, seq]);
    const out = await session.run({
      input_ids: i64((i) => i + 1),
      attention_mask: i64(() => 1),
      position_ids: i64((i) => i),
    });
    const name = session.outputNames[0]!;
    const t = out[name]!;
    const data = (await t.getData()) as Float32Array;
    const vocab = t.dims[t.dims.length - 1]!;
    const result: SmokeResult = {
      backend,
      outputNames: [...session.outputNames],
      dims: [...t.dims],
      logitsHead: Array.from(data.subarray(0, vocab)),
      logitsLast: Array.from(data.subarray(data.length - vocab)),
      wasmThreads,
      crossOriginIsolated: self.crossOriginIsolated,
    };
    for (const v of Object.values(out)) v.dispose();
    return result;
  } finally {
    await session.release();
  }
}

// ORT starts its pthreads as module workers on this bundle's own URL, named "em-pthread*";
// in those, ORT's own message handler must be the only one.
if (!self.name?.startsWith('em-pthread')) {
  installErrorTransfer();
  const api: EngineApi = { probe, runOnnx };
  expose(api);
}
