import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { serveFixtures } from './vite-plugins/serve-fixtures.ts';

// Cross-origin isolation makes SharedArrayBuffer available, which ORT's threaded WASM needs.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  // Test models, served from disk at /fixtures/models/ (never copied into the build).
  plugins: [react(), serveFixtures()],
  // Pre-bundling rewrites ORT's `new URL(..., import.meta.url)` and its pthread self-import
  // against the .vite/deps folder, where the .wasm does not live.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  // One ORT for the engine and for transformers.js (see workers/ort-runtime.ts).
  resolve: { dedupe: ['onnxruntime-web', 'onnxruntime-common'] },
  // ORT's pthreads are module workers started from the bundle's own URL; classic (iife)
  // workers cannot do that.
  worker: { format: 'es' },
  server: { headers: isolation },
  preview: { headers: isolation },
  build: {
    target: 'es2022',
    // The engine test harness (e2e/engine-client.spec.ts drives the engine client through it)
    // is a second page, because the e2e server serves a production build. A few kB; unlinked.
    rolldownOptions: { input: { main: 'index.html', 'engine-harness': 'e2e/engine-harness.html' } },
  },
});
