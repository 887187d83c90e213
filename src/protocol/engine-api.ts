// The worker API as seen from the page. Types only: plain data crosses the boundary, never
// ORT objects. Progress callbacks cross as Comlink proxies; errors keep name and code.
import type { ControlMode, ExplainSettings } from '../core/types';
import type { LoadProgress, SelfCheck } from '../runtime/atman-model';
import type { ModelDtype } from '../runtime/dtypes';
import type { Explanation, ExplainProgress, UnitPlan } from '../runtime/explain';
import type { GpuProbe } from '../runtime/web-backend';

export type { ControlMode, ExplainSettings, Explanation, ExplainProgress, GpuProbe, LoadProgress, ModelDtype, SelfCheck, UnitPlan };

/** 'auto' = WebGPU when the probe finds an adapter, WASM otherwise. */
export type BackendChoice = 'auto' | 'webgpu' | 'wasm';

export type ModelSourceSpec =
  | { kind: 'url'; baseUrl: string; id?: string }
  | { kind: 'hub'; repo: string; revision?: string }
  /** a model folder the user picked or dropped; paths are relative to the folder (config.json, onnx/model.onnx) */
  | { kind: 'files'; id: string; files: Array<{ path: string; file: Blob }> };

/** a model whose files the browser keeps (Cache Storage) */
export interface CachedModel {
  id: string;
  files: number;
  bytes: number;
}

export interface LoadRequest {
  source: ModelSourceSpec;
  dtype?: ModelDtype;
  mode?: ControlMode;
  layers?: number[] | null;
  backend: BackendChoice;
  selfCheck?: boolean;
}

export interface ModelInfo {
  id: string;
  dtype: ModelDtype;
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
  mode: ControlMode;
  /** attention sites the rewriter changed */
  attentionSites: number;
  selfCheck: SelfCheck | null;
}

export interface ExplainRequestData {
  prompt: string;
  target: string;
  settings?: Partial<ExplainSettings>;
  batchSize?: number;
}

export interface EngineApi {
  probe(): Promise<GpuProbe>;
  load(req: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<ModelInfo>;
  explain(req: ExplainRequestData, onProgress?: (p: ExplainProgress) => void): Promise<Explanation>;
  generate(prompt: string, maxNewTokens: number): Promise<string>;
  /** aborts the running explain/generate; it then rejects with AtmanError CANCELLED */
  cancel(): void;
  /** tokens and units with their column factors (what conceptual suppression drags along), without running passes */
  plan(req: ExplainRequestData): Promise<UnitPlan>;
  /** models downloaded from the hub or a URL and kept in the browser */
  cachedModels(): Promise<CachedModel[]>;
  /** forget one cached model, or all of them */
  clearCache(id?: string): Promise<void>;
}
