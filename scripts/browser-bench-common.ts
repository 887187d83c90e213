// What the browser benchmarks share: the e2e build served by `vite preview` (it has the harness
// page and the test hooks), Debian's Chromium with the flags the Playwright config uses, and a wait
// for a server to answer.
import { type ChildProcess, spawn } from 'node:child_process';
import { type Browser, chromium } from '@playwright/test';

const QUIET = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** Debian's Chromium (or CHROMIUM_PATH), with WebGPU on SwiftShader unless `webgpu` is false. */
export const launchChromium = (webgpu = true): Promise<Browser> =>
  chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: webgpu ? [...QUIET, '--enable-unsafe-webgpu'] : QUIET });

/** `vite preview` of the e2e build on this port, building it first unless `build` is false; stop with `stopServer`. */
export const serveE2eBuild = (port: string, build = true): ChildProcess =>
  spawn('sh', ['-c', `${build ? 'npx vite build --mode e2e --logLevel warn && ' : ''}npx vite preview --mode e2e --port ${port} --strictPort --host 127.0.0.1`], { stdio: 'inherit', detached: true });

/** Stops a server spawned with `detached: true` (`serveE2eBuild`, the workshop test): its whole process group, npx and all. */
export function stopServer(server: ChildProcess): void {
  try {
    process.kill(-server.pid!);
  } catch {
    // already gone
  }
}

export async function waitFor(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${url} did not answer`);
}
