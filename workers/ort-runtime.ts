// The one onnxruntime-web in the worker. transformers.js (used here for tokenizers only) takes
// the runtime registered under Symbol.for('onnxruntime') instead of loading its own copy, and
// Vite's resolve.dedupe keeps its static import on this same package, so the build ships one
// ORT and one .wasm. An empty wasmPaths object keeps ORT's own bundled .wasm location while
// stopping transformers.js from pointing ORT at a CDN (which would break offline use).
// This module must be imported before anything that imports @huggingface/transformers.
import * as ort from 'onnxruntime-web/webgpu';

ort.env.wasm.wasmPaths ??= {};
(globalThis as Record<symbol, unknown>)[Symbol.for('onnxruntime')] = ort;

export { ort };
