// Test page for e2e/engine-*.spec.ts: the engine client and the folder helpers on window, for
// page.evaluate. Built as a second page (vite.config.ts), served at /e2e/engine-harness.html.
import { type EngineClient, type RestartEvent, createEngineClient } from '../src/runtime-client/engine-client';
import * as folders from '../src/runtime-client/folder-files';

export interface Harness {
  engine: EngineClient;
  restarts: RestartEvent[];
  folders: typeof folders;
}

declare global {
  interface Window {
    harness: Harness;
  }
}

const engine = createEngineClient();
const restarts: RestartEvent[] = [];
engine.onRestart((e) => restarts.push(e));
window.harness = { engine, restarts, folders };
document.querySelector('[data-testid="harness"]')!.setAttribute('data-state', 'ready');
