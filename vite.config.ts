import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { cspMeta } from './vite-plugins/csp.ts';
import { serveFixtures } from './vite-plugins/serve-fixtures.ts';
import { methodPage } from './vite-plugins/method-page.ts';

// Cross-origin isolation makes SharedArrayBuffer available, which ORT's threaded WASM needs.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// Two builds: `vite build` is what users get (dist/): no test hooks, no test pages. `vite build
// --mode e2e` is the browser tests' build (dist-e2e/, served by `vite preview --mode e2e`): the
// same app and the same Content-Security-Policy, plus the `?test` hooks and the engine harness page.
export default defineConfig(({ command, mode }) => {
  const e2e = mode === 'e2e';
  const input: Record<string, string> = e2e ? { main: 'index.html', 'engine-harness': 'e2e/engine-harness.html' } : { main: 'index.html' };
  return {
    // Test models, served from disk at /fixtures/models/ (never copied into the build).
    plugins: [react(), serveFixtures(), cspMeta(), methodPage()],
    // Compile-time switch: in the production build the test hooks (?test, ?batch=N) are dead code.
    define: { __ATMAN_TEST_HOOKS__: JSON.stringify(command === 'serve' || e2e) },
    // Pre-bundling rewrites ORT's `new URL(..., import.meta.url)` and its pthread self-import
    // against the .vite/deps folder, where the .wasm does not live.
    optimizeDeps: { exclude: ['onnxruntime-web'] },
    // One ORT for the engine and for transformers.js (see workers/ort-runtime.ts).
    resolve: { dedupe: ['onnxruntime-web', 'onnxruntime-common'] },
    // ORT's pthreads are module workers started from the bundle's own URL; classic (iife)
    // workers cannot do that.
    worker: { format: 'es' },
    server: { headers: isolation },
    // The e2e build also answers to a made-up LAN host name (e2e/lan-http.spec.ts maps it to this
    // machine): Vite refuses requests for host names it does not know.
    preview: { headers: isolation, ...(e2e ? { allowedHosts: ['classroom.test'] } : {}) },
    build: {
      target: 'es2022',
      outDir: e2e ? 'dist-e2e' : 'dist',
      // The engine test harness (e2e/engine-client.spec.ts drives the engine client through it)
      // is a second page of the e2e build only, because the e2e server serves a built app.
      rolldownOptions: { input },
    },
  };
});
