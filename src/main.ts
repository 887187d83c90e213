// Placeholder page proving the worker + ORT pipeline; the React playground replaces it.
import type { Backend } from './protocol/engine-api';
import { spawnEngine } from './runtime-client/engine-client';

// Absolute, because the worker resolves relative URLs against its own script URL.
// `?model=` lets tests point the run at another (or a missing) file.
const SMOKE_MODEL = new URL(
  new URLSearchParams(location.search).get('model') ?? 'test-assets/tiny_gpt2.onnx',
  document.baseURI,
).href;

const $ = <T extends HTMLElement>(id: string) => document.querySelector<T>(`[data-testid="${id}"]`)!;
const badge = $('backend-badge');
const select = $<HTMLSelectElement>('backend-select');
const button = $<HTMLButtonElement>('run-smoke');
const result = $('smoke-result');

const engine = spawnEngine();

const show = (el: HTMLElement, state: string, text: string) => {
  el.dataset.state = state;
  el.textContent = text;
};
const describe = (e: unknown) =>
  e instanceof Error ? `${e.name}${'code' in e ? ` [${String(e.code)}]` : ''}: ${e.message}` : String(e);

engine.api.probe().then(
  (p) => {
    badge.dataset.probe = JSON.stringify(p);
    show(badge, p.webgpu ? 'webgpu' : 'wasm', p.webgpu ? `WebGPU (${p.adapter}${p.shaderF16 ? ', f16' : ''})` : `WASM only: ${p.reason}`);
    if (!p.webgpu) select.value = 'wasm';
  },
  (e) => show(badge, 'error', describe(e)),
);

button.addEventListener('click', async () => {
  const backend = select.value as Backend;
  button.disabled = true;
  delete result.dataset.errorName;
  delete result.dataset.errorCode;
  show(result, 'running', `running on ${backend}…`);
  try {
    const r = await engine.api.runOnnx(SMOKE_MODEL, backend);
    result.dataset.result = JSON.stringify(r);
    show(result, 'done', `${r.backend} ${r.outputNames.join(',')} [${r.dims}]\n${r.logitsHead.map((v) => v.toFixed(4)).join(' ')}`);
  } catch (e) {
    if (e instanceof Error) {
      result.dataset.errorName = e.name;
      result.dataset.errorCode = String((e as { code?: unknown }).code ?? '');
    }
    show(result, 'error', describe(e));
  } finally {
    button.disabled = false;
  }
});
