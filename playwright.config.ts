import { defineConfig } from '@playwright/test';

// Debian's chromium: Playwright's own browser downloads do not work on these machines.
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const quiet = [
  '--no-sandbox', // root in CI containers
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Docker's default 64 MB /dev/shm crashes renderers; Debian's wrapper means to add this
  // itself but its findmnt test breaks when /dev/shm shows up twice.
  '--disable-dev-shm-usage',
];
// WebGPU through SwiftShader. Never add --use-angle=vulkan together with --disable-gpu: that
// combination kills the adapter.
const webgpu = ['--enable-unsafe-webgpu'];

// E2E_SERVER=dev uses the Vite dev server (fast edit loop). The default serves a production
// build, which is what users get: only there is ORT bundled into the worker chunk, so only
// there do its pthreads re-load our worker (the em-pthread guard) and do the .wasm asset URLs
// get rewritten.
const dev = process.env.E2E_SERVER === 'dev';
// E2E_PORT lets several checkouts run their e2e on one machine without sharing a server.
const port = Number(process.env.E2E_PORT) || (dev ? 5173 : 4173);

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  timeout: 120_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1, // SwiftShader is CPU-bound; parallel browsers just slow each other down
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  use: {
    baseURL: `http://127.0.0.1:${port}/`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  // Two projects split the suite by what a test is about. Tests tagged @webgpu check WebGPU
  // itself (numbers against the Node engine, prefix reuse and the score head on the GPU, a lost
  // device, a crash mid-run on the GPU, the first visit as users get it), or need runs slow enough
  // to cancel midway, and run with WebGPU on SwiftShader. Every other test is about the page (layout, links, errors, workshop, pictures'
  // UI) and runs in a browser without WebGPU, where the engine falls back to WASM: SwiftShader
  // compiles shaders for every new tensor shape, which made a UI test wait seconds per run, and
  // these tests do not depend on which backend computed the numbers.
  projects: [
    {
      name: 'chromium-webgpu',
      grep: /@webgpu/,
      use: { launchOptions: { executablePath, args: [...quiet, ...webgpu] } },
    },
    {
      name: 'chromium-wasm',
      grepInvert: /@webgpu/,
      use: { launchOptions: { executablePath, args: quiet } },
    },
  ],
  webServer: {
    command: dev
      ? `npx vite --port ${port} --strictPort --host 127.0.0.1`
      : `npx vite build --mode e2e --logLevel warn && npx vite preview --mode e2e --port ${port} --strictPort --host 127.0.0.1`,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
