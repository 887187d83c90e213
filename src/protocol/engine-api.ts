// The worker API as seen from the page. Types only: plain data crosses the boundary, never
// ORT objects. Progress callbacks cross as Comlink proxies; errors keep name and code.
import type { ControlMode, ExplainSettings } from '../core/types';
import type { LoadProgress, SelfCheck } from '../runtime/atman/atman-model';
import type { CoupledNumerics } from '../runtime/atman/coupled-numerics';
import type { DtypeRequest, ModelDtype } from '../runtime/model/dtypes';
import type { ImageShape } from '../core/image-units';
import type { AttentionOptions } from '../runtime/compare/comparison-methods';
import type { Explanation, ExplainProgress, ExplanationMethod, UnitPlan } from '../runtime/schema';
import type { FaithfulnessInput, FaithfulnessOptions, FaithfulnessReport } from '../runtime/compare/faithfulness';
import type { ModelLayout } from '../runtime/model/model-layout';
import type { VariantInfo, VariantListing } from '../runtime/sources/model-files';
import type { SteerResult, SteerStepEvent, SteerUnit } from '../runtime/atman/steer';
import type { CachedModel } from '../runtime/sources/model-cache';
import type { GpuProbe } from '../runtime/backends/web-backend';

export type {
  AttentionOptions,
  CachedModel,
  ControlMode,
  ExplainSettings,
  Explanation,
  ExplanationMethod,
  ExplainProgress,
  FaithfulnessReport,
  GpuProbe,
  ImageShape,
  LoadProgress,
  DtypeRequest,
  ModelDtype,
  ModelLayout,
  SelfCheck,
  SteerResult,
  SteerStepEvent,
  SteerUnit,
  UnitPlan,
  VariantInfo,
  VariantListing,
};

/** An image as the page holds it: the file's bytes; the worker decodes and checks it. */
export interface ImageData {
  data: Blob;
  name?: string;
}

/** 'auto' = WebGPU when the probe finds an adapter, WASM otherwise. */
export type BackendChoice = 'auto' | 'webgpu' | 'wasm';

/**
 * Hub models and URLs are kept in Cache Storage after their first download (cachedModels lists
 * them under the hub id or the absolute base URL), except URLs under the app's own /models/.
 */
export type ModelSourceSpec =
  | { kind: 'url'; baseUrl: string; id?: string }
  | { kind: 'hub'; repo: string; revision?: string }
  /**
   * a model folder the user picked or dropped; paths relative to the folder (config.json,
   * onnx/model.onnx). Picker paths with the folder name in front are accepted too (the worker
   * strips a common top folder); see src/runtime-client/folder-files.ts.
   */
  | { kind: 'files'; id: string; files: Array<{ path: string; file: Blob }> };

/** What is alive in the worker (test builds only): GPU buffers (created and not destroyed or collected) and ORT sessions. */
export interface LiveCounts {
  gpuBuffers: number;
  gpuBufferBytes: number;
  /** every GPU buffer created so far */
  gpuBuffersCreated: number;
  sessions: number;
}

/** How the test hook stops the worker: close itself (no error event) or throw outside any call. */
export type CrashKind = 'close' | 'throw';

export interface LoadRequest {
  source: ModelSourceSpec;
  /** absent or 'auto': the engine picks by backend from the variants the repository has */
  dtype?: DtypeRequest;
  mode?: ControlMode;
  layers?: number[] | null;
  backend: BackendChoice;
  selfCheck?: boolean;
}

export interface ModelInfo {
  id: string;
  dtype: ModelDtype;
  /** the decoder graph loaded, e.g. onnx/model_q4.onnx */
  file?: string;
  /** why this dtype, in words: asked for, or the automatic choice by backend */
  dtypeReason?: string;
  /** every variant the repository has */
  variants?: VariantInfo[];
  /** the execution provider that runs the passes: 'webgpu' or 'wasm' */
  backend: string;
  device: string;
  modelType: string;
  numLayers: number;
  numHeads: number;
  vocabSize: number;
  maxPositions: number;
  /** decoder layers that carry the control */
  controlledLayers: number[];
  /** text-only, image tokens in the decoder's sequence, or an encoder-decoder captioner */
  layout: ModelLayout;
  /** the model reads an image (a captioner needs one) */
  acceptsImages: boolean;
  /** text prompts go inside the model's chat template (the `chat` setting); absent = unknown */
  chatTemplate?: boolean;
  mode: ControlMode;
  /** attention sites the rewriter changed */
  attentionSites: number;
  selfCheck: SelfCheck | null;
}

/** What a model source holds, asked before any download: its variants and what auto would take. */
export interface VariantsRequest {
  source: ModelSourceSpec;
  backend: BackendChoice;
  dtype?: DtypeRequest;
}

export interface ExplainRequestData {
  prompt: string;
  target: string;
  settings?: Partial<ExplainSettings>;
  /** passes per batch, a whole number from 1 to 1024 (src/core/numbers.ts); the engine picks it when absent */
  batchSize?: number;
  /** the savings, on by default; off only to compare (bench, tests) */
  scoreHead?: boolean;
  prefixReuse?: boolean;
  /** bytes one batch may use; the worker derives it from the adapter's limits otherwise */
  memoryBudgetBytes?: number;
  /** the picture for a vision-language model, and shapes drawn on it (each one more unit) */
  image?: ImageData;
  imageRegions?: ImageShape[];
  /** models whose rows or batch items are coupled (q8): 'exact' (default) or the faster, measured 'dequantized' variant */
  coupledNumerics?: CoupledNumerics;
  /** AtMan (default) or a method to compare with (forward-only or gradient) */
  method?: ExplanationMethod;
  /** granularity 'auto': the finest unit level whose passes fit this many seconds (replaces the settings' granularity) */
  autoUnits?: { budgetSeconds: number };
  attention?: AttentionOptions;
  /** integrated gradients: Gauss–Legendre steps (default 50) */
  steps?: number;
}

export interface FaithfulnessRequestData {
  /** the explanation whose ranking is measured (its prompt, target, units and settings) */
  explanation: FaithfulnessInput;
  image?: ImageData;
  options?: Omit<FaithfulnessOptions, 'signal' | 'onProgress'>;
}

export interface SteerRequestData {
  prompt: string;
  units: SteerUnit[];
  maxNewTokens: number;
  mode?: ControlMode;
  layers?: number[] | null;
  /** the prompt as the user's turn of the model's chat template, when it has one (default true) */
  chat?: boolean;
}

export interface GenerateOptions {
  /** the prompt as the user's turn of the model's chat template, when it has one (default true); the reply ends before the end-of-turn token */
  chat?: boolean;
}

export interface EngineApi {
  probe(): Promise<GpuProbe>;
  load(req: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<ModelInfo>;
  /** the variants a model source has (its file listing and config.json only; nothing is cached) */
  variants(req: VariantsRequest): Promise<VariantListing>;
  explain(req: ExplainRequestData, onProgress?: (p: ExplainProgress) => void): Promise<Explanation>;
  generate(prompt: string, maxNewTokens: number, image?: ImageData, options?: GenerateOptions): Promise<string>;
  /** deletion and insertion curves of an explanation's ranking, with a random floor */
  faithfulness(req: FaithfulnessRequestData, onProgress?: (p: ExplainProgress) => void): Promise<FaithfulnessReport>;
  /** greedy generation with the control held on chosen prompt units, next to the plain generation */
  steer(req: SteerRequestData, onStep?: (e: SteerStepEvent) => void): Promise<SteerResult>;
  /** aborts the running explain/generate; it then rejects with AtmanError CANCELLED */
  cancel(): void;
  /** tokens and units with their column factors (what conceptual suppression drags along), without running passes */
  plan(req: ExplainRequestData): Promise<UnitPlan>;
  /** models downloaded from the hub or a URL and kept in the browser */
  cachedModels(): Promise<CachedModel[]>;
  /** forget one cached model, or all of them */
  clearCache(id?: string): Promise<void>;
  /**
   * Client plumbing, not for callers: the worker takes a Web Lock it holds until it dies and
   * returns its name (null without Web Locks); the client waits on that lock to learn of a
   * worker that closed or died without an error event.
   */
  __lifeLock(): Promise<string | null>;
  /** TEST ONLY: make the worker die as a crash would ('close' by default). */
  __crashForTest(how?: CrashKind): void;
  /** TEST ONLY: destroy onnxruntime's GPU device, as a driver reset would; false when none was made or outside test builds. */
  __loseDeviceForTest(): Promise<boolean>;
  /** TEST ONLY: GPU buffers and sessions alive in the worker; null outside test builds. */
  __liveCountsForTest(): Promise<LiveCounts | null>;
}
