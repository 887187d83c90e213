// The worker API as seen from the page. Plain data only: no ORT objects cross the boundary.

export type Backend = 'webgpu' | 'wasm';

export interface ProbeResult {
  webgpu: boolean;
  /** "vendor / architecture / description" of the adapter the worker got, if any. */
  adapter: string | null;
  shaderF16: boolean;
  /** Why WebGPU is unavailable, when it is. */
  reason?: string;
}

export interface SmokeResult {
  backend: Backend;
  outputNames: string[];
  dims: number[];
  /** First row of the first output (position 0's logits). */
  logitsHead: number[];
  /** Last position's row: unlike row 0 it depends on attention over every token. */
  logitsLast: number[];
  /** WASM threads ORT was told to use; >1 means pthread workers were started. */
  wasmThreads: number;
  crossOriginIsolated: boolean;
}

export interface EngineApi {
  probe(): Promise<ProbeResult>;
  runOnnx(modelUrl: string, backend: Backend): Promise<SmokeResult>;
}
