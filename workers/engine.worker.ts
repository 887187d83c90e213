/// <reference lib="webworker" />
// Thin entry: wires src/runtime to the protocol in src/protocol/engine-api.ts. One model at a
// time; explain/generate run with an AbortController that cancel() trips between passes.
import { ort } from './ort-runtime';
import { expose } from 'comlink';
import { AtmanError } from '../src/core/errors';
import { checkRunNumbers } from '../src/core/numbers';
import { validateSettings } from '../src/core/settings';
import { TAB_MEMORY_BUDGET } from '../src/core/memory-budget';
import type { BackendChoice, EngineApi, ImageData, LoadRequest, ModelInfo } from '../src/protocol/engine-api';
import type { OrtBackend } from '../src/runtime/backends/backend';
import { describeVariants } from '../src/runtime/sources/model-files';
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explainComparison, releaseComparisonSessions } from '../src/runtime/compare/comparison-methods';
import { explain } from '../src/runtime/atman/explain';
import { planUnits } from '../src/runtime/atman/prepare';
import { generateGreedy } from '../src/runtime/atman/generate';
import { measureFaithfulness } from '../src/runtime/compare/faithfulness';
import { type DecodedImage, decodeImage } from '../src/runtime/image/decode-image';
import { steer } from '../src/runtime/atman/steer';
import { chatFor } from '../src/runtime/model/chat-template';
import { pickedFolderSource } from '../src/runtime/sources/picked-folder';
import { type CacheLike, MODEL_CACHE_NAME, cacheIdFor, cachedSource, clearCachedModels, forgetDamaged, listCachedModels } from '../src/runtime/sources/model-cache';
import { hubSource } from '../src/runtime/sources/hub-source';
import { withManifest } from '../src/runtime/sources/file-hashes';
import { type ModelSource, urlSource } from '../src/runtime/sources/model-source';
import { type GpuProbe, createWebBackend, probeWebGpu } from '../src/runtime/backends/web-backend';
import { installErrorTransfer } from '../src/runtime-client/comlink-errors';
import { type DeviceLike, createDeviceWatch } from './device-watch';
import { countGpuBuffers, countSessions, liveCounts } from './live-counts';

// Test builds count GPU buffers from the first one ORT makes (the soak script reads them).
if (__ATMAN_TEST_HOOKS__) countGpuBuffers();

// Threads need SharedArrayBuffer (cross-origin isolation). At least 2 so the pthread path,
// which loads this very bundle again, is exercised even on 2-core CI machines.
const wasmThreads = self.crossOriginIsolated ? Math.max(2, Math.min(4, navigator.hardwareConcurrency || 2)) : 1;

let model: AtmanModel | null = null;
let running: AbortController | null = null;
/** the GPU device ORT computes on: a run that meets its loss fails with DEVICE_LOST, and the client starts over */
const device = createDeviceWatch();
let probed: Promise<GpuProbe> | null = null;
let lastProbe: GpuProbe | null = null;
const probe = (): Promise<GpuProbe> =>
  (probed ??= probeWebGpu().then((p) => {
    lastProbe = p;
    return p;
  }));

// Cache Storage exists only in secure contexts (https, localhost); without it nothing is kept.
let opened: Promise<CacheLike | null> | null = null;
const modelCache = (): Promise<CacheLike | null> =>
  (opened ??= typeof caches === 'undefined' ? Promise.resolve(null) : caches.open(MODEL_CACHE_NAME).catch(() => null));

/** The request's model source; downloads through Cache Storage unless `cache` is false. */
async function sourceOf(req: Pick<LoadRequest, 'source' | 'dtype'>, cache = true): Promise<ModelSource> {
  const spec = req.source;
  if (spec.kind === 'files') return pickedFolderSource(spec.id, spec.files, req.dtype);
  // Relative base URLs resolve against the worker's URL, so make them absolute first.
  const abs = spec.kind === 'url' ? { ...spec, baseUrl: new URL(spec.baseUrl, self.location.href).href } : spec;
  const key = cacheIdFor(abs, self.location.origin);
  const inner =
    abs.kind === 'hub'
      ? hubSource(abs.repo, abs.revision ? { revision: abs.revision } : {})
      : // The app's own bundled models (never cached) are checked against the manifest they are built with.
        key === null
        ? withManifest(urlSource(abs.baseUrl, abs.id))
        : urlSource(abs.baseUrl, abs.id);
  if (!cache) return inner;
  const store = key ? await modelCache() : null;
  return store && key ? cachedSource(inner, store, key) : inner;
}

function info(m: AtmanModel): ModelInfo {
  const { mode, report, selfCheck } = m.current;
  return {
    id: m.id,
    dtype: m.dtype,
    file: m.onnxFile,
    dtypeReason: m.variant.reason,
    variants: m.variant.variants.map((v) => ({ dtype: v.dtype, bytes: v.bytes })),
    backend: m.backend.name,
    device: m.backend.device,
    modelType: m.config.modelType,
    numLayers: m.config.numLayers,
    numHeads: m.config.numHeads,
    vocabSize: m.config.vocabSize,
    maxPositions: m.config.maxPositions,
    controlledLayers: [...report.controlledLayers],
    layout: m.layout,
    acceptsImages: m.vision !== null,
    chatTemplate: chatFor(m, true) !== null,
    mode,
    attentionSites: report.sites.length,
    selfCheck,
  };
}

/** On WebGPU a batch's biggest tensor must fit one storage buffer; a batch stays well under it. */
function budgetFor(m: AtmanModel): number {
  const limit = m.backend.name === 'webgpu' ? lastProbe?.maxBufferBytes : undefined;
  return limit ? Math.min(TAB_MEMORY_BUDGET, limit) : TAB_MEMORY_BUDGET;
}

/** The last image decoded, kept so that re-explaining the same file does not decode it again. */
let decoded: { data: Blob; image: Promise<DecodedImage> } | null = null;
function imageOf(img: ImageData | undefined): Promise<DecodedImage> | null {
  if (!img) return null;
  if (decoded?.data !== img.data) decoded = { data: img.data, image: decodeImage(img.data, { ...(img.name ? { filename: img.name } : {}), mime: img.data.type }) };
  const out = decoded.image;
  out.catch(() => (decoded = null));
  return out;
}

function requireModel(): AtmanModel {
  if (!model) throw new AtmanError('MODEL_FILES_MISSING', 'No model is loaded yet.');
  return model;
}

/**
 * One call at a time touches the model: onnxruntime-web does not run one session twice at once,
 * and a plan (which runs the image encoder) may arrive while an explanation is running.
 */
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(f: () => Promise<T>): Promise<T> {
  const run = queue.then(f, f);
  queue = run.catch(() => undefined);
  return run;
}

/** The device ORT's WebGPU backend made (read only after a WebGPU session exists: before, reading it makes one). */
const gpuDevice = (): Promise<DeviceLike> => ort.env.webgpu.device as Promise<DeviceLike>;

/** A new run stops the one before it (between its passes), then waits for the model. */
async function withSignal<T>(run: (signal: AbortSignal, m: AtmanModel) => Promise<T>): Promise<T> {
  running?.abort();
  const ctl = (running = new AbortController());
  try {
    return await device.guard(() => exclusive(() => run(ctl.signal, requireModel())));
  } finally {
    if (running === ctl) running = null;
  }
}

/** The backend a request names (its capabilities decide the automatic dtype). */
async function backendFor(choice: BackendChoice): Promise<OrtBackend> {
  const gpu = await probe();
  if (choice === 'webgpu' && !gpu.webgpu) throw new AtmanError('BACKEND_FAILED', `WebGPU is not available: ${gpu.reason}`);
  const ep = choice === 'wasm' || !gpu.webgpu ? 'wasm' : 'webgpu';
  // Warnings (e.g. shape ops placed on CPU) are expected for int64 graphs and go to console.error.
  const backend = createWebBackend(ort, gpu, ep, { logSeverityLevel: 3 });
  return __ATMAN_TEST_HOOKS__ ? countSessions(backend) : backend;
}

const api: EngineApi = {
  probe,
  async variants(req) {
    return describeVariants(await sourceOf(req, false), await backendFor(req.backend), req.dtype ?? 'auto');
  },
  async load(req, onProgress) {
    // Before any download: a bad layer list or mode would otherwise fail only after it.
    validateSettings({ ...(req.mode ? { mode: req.mode } : {}), ...(req.layers !== undefined ? { layers: req.layers } : {}) });
    const backend = await backendFor(req.backend);
    ort.env.wasm.numThreads = wasmThreads;
    // A load stops the run before it, and cancel() stops the load (between downloaded chunks and stages).
    running?.abort();
    const ctl = (running = new AbortController());
    try {
      return await device.guard(() =>
        exclusive(async () => {
          const old = model;
          model = null;
          device.forget();
          if (old) await releaseComparisonSessions(old);
          await old?.release();
          try {
            model = await AtmanModel.load(await sourceOf(req), backend, {
              ...(req.dtype ? { dtype: req.dtype } : {}),
              ...(req.mode ? { mode: req.mode } : {}),
              ...(req.layers !== undefined ? { layers: req.layers } : {}),
              ...(req.selfCheck !== undefined ? { selfCheck: req.selfCheck } : {}),
              ...(onProgress ? { onProgress } : {}),
              signal: ctl.signal,
            });
          } catch (e) {
            // A damaged file kept in Cache Storage would fail every later load the same way.
            const key = req.source.kind === 'files' ? null : cacheIdFor(req.source.kind === 'url' ? { ...req.source, baseUrl: new URL(req.source.baseUrl, self.location.href).href } : req.source, self.location.origin);
            const store = key ? await modelCache() : null;
            throw store && key ? await forgetDamaged(e, store, key) : e;
          }
          if (backend.name === 'webgpu') device.watch(gpuDevice());
          return info(model);
        }),
      );
    } finally {
      if (running === ctl) running = null;
    }
  },
  explain(req, onProgress) {
    // Numbers first, so a bad batch size is refused before a picture is decoded.
    checkRunNumbers(req);
    return withSignal(async (signal, m) => {
      const { image: imageData, imageRegions, method, attention, steps, ...rest } = req;
      const image = await imageOf(imageData);
      const common = {
        ...rest,
        signal,
        memoryBudgetBytes: req.memoryBudgetBytes ?? budgetFor(m),
        ...(onProgress ? { onProgress } : {}),
        ...(image ? { image: { image, ...(imageRegions ? { regions: imageRegions } : {}) } } : {}),
      };
      if (method && method !== 'atman') return explainComparison(m, { ...common, method, ...(attention ? { attention } : {}), ...(steps !== undefined ? { steps } : {}) });
      return explain(m, common);
    });
  },
  generate(prompt, maxNewTokens, imageData, options) {
    return withSignal(async (signal, m) => generateGreedy(m, prompt, maxNewTokens, signal, (await imageOf(imageData)) ?? undefined, options ?? {}));
  },
  faithfulness(req, onProgress) {
    return withSignal(async (signal, m) => {
      const image = await imageOf(req.image);
      return measureFaithfulness(m, { ...req.explanation, ...(image ? { imageInput: { image } } : {}) }, {
        ...req.options,
        signal,
        memoryBudgetBytes: req.options?.memoryBudgetBytes ?? budgetFor(m),
        ...(onProgress ? { onProgress } : {}),
      });
    });
  },
  steer(req, onStep) {
    return withSignal((signal, m) => steer(m, { ...req, signal, ...(onStep ? { onStep } : {}) }));
  },
  cancel() {
    running?.abort();
  },
  plan(req) {
    return device.guard(() => exclusive(async () => {
      const { image: imageData, imageRegions, method: _method, attention: _attention, ...rest } = req;
      const image = await imageOf(imageData);
      return planUnits(requireModel(), { ...rest, ...(image ? { image: { image, ...(imageRegions ? { regions: imageRegions } : {}) } } : {}) });
    }));
  },
  async cachedModels() {
    const cache = await modelCache();
    return cache ? listCachedModels(cache) : [];
  },
  async clearCache(id) {
    const cache = await modelCache();
    if (cache) await clearCachedModels(cache, id);
  },
  async __lifeLock() {
    if (!navigator.locks) return null;
    const name = `atman-engine-life-${crypto.randomUUID()}`;
    // Held until this worker is gone: the callback's promise never settles.
    await new Promise<void>((held) => void navigator.locks.request(name, () => (held(), new Promise<never>(() => {}))));
    return name;
  },
  async __loseDeviceForTest() {
    if (!__ATMAN_TEST_HOOKS__ || model?.backend.name !== 'webgpu') return false;
    (await gpuDevice()).destroy();
    return true;
  },
  async __liveCountsForTest() {
    return __ATMAN_TEST_HOOKS__ ? liveCounts() : null;
  },
  __crashForTest(how = 'close') {
    // Later, so this call itself returns first, as a crash during a run would look.
    setTimeout(() => {
      if (how === 'close') self.close();
      else throw new Error('test crash');
    }, 0);
  },
};

// ORT starts its pthreads as module workers on this bundle's own URL, named "em-pthread*";
// in those, ORT's own message handler must be the only one.
if (!self.name?.startsWith('em-pthread')) {
  installErrorTransfer();
  expose(api);
}
