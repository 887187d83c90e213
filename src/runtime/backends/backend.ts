// What the engine needs from onnxruntime, whichever package provides it
// (onnxruntime-node in Node, onnxruntime-web in the browser).
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';

export interface ExternalFile {
  /** the location written in the graph, relative to the .onnx file */
  path: string;
  /** the file's bytes; empty where a backend that reads by path loads it from diskPath */
  data: Uint8Array;
  /** the file's size in bytes */
  size: number;
  /** where it lies on disk, when it does (Node reads it from there) */
  diskPath?: string;
}

export type TensorCtor = typeof OrtTensor;

export interface OrtBackend {
  /** what actually runs the passes: 'webgpu', 'wasm', 'cpu' or 'cuda' (onnxruntime-node's CUDA provider) */
  name: 'webgpu' | 'wasm' | 'cpu' | 'cuda';
  /** the adapter or library, for the record */
  device: string;
  supportsFp16: boolean;
  /** the backend reads external weights from files on disk (diskPath), so a graph may point at weights inside another file */
  readsFilesByPath?: boolean;
  /** returns memory the script let go to the system now, where the runtime allows it (Node) */
  collectGarbage?(): void;
  Tensor: TensorCtor;
  createSession(model: Uint8Array, external: readonly ExternalFile[]): Promise<InferenceSession>;
}
