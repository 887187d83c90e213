// Minimal page over the engine worker (the React playground replaces it): pick a model,
// explain a prompt, see each unit's score as a colour.
import { proxy } from 'comlink';
import type { BackendChoice, ControlMode, ExplainProgress, LoadProgress, ModelInfo } from './protocol/engine-api';
import { spawnEngine } from './runtime-client/engine-client';
import { renderHeatmapText } from './ui/heatmap-text';
import { CUSTOM, FIXTURE_MODELS, sourceFor } from './ui/model-choices';
import { type PageState, readState, writeState } from './ui/page-state';

const $ = <T extends HTMLElement>(id: string): T => document.querySelector<T>(`[data-testid="${id}"]`)!;
const badge = $('backend-badge');
const modelSelect = $<HTMLSelectElement>('model-select');
const customModel = $<HTMLInputElement>('custom-model');
const backendSelect = $<HTMLSelectElement>('backend-select');
const modeSelect = $<HTMLSelectElement>('mode-select');
const batchInput = $<HTMLInputElement>('batch-size');
const promptBox = $<HTMLTextAreaElement>('prompt');
const targetBox = $<HTMLInputElement>('target');
const explainButton = $<HTMLButtonElement>('explain');
const cancelButton = $<HTMLButtonElement>('cancel');
const generateButton = $<HTMLButtonElement>('generate');
const progress = $<HTMLProgressElement>('progress');
const status = $('status');
const modelInfo = $('model-info');
const errorBox = $('error');
const generation = $('generation');
const result = $('result');

const storage = (() => {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
})();
const params = new URLSearchParams(location.search);

for (const m of FIXTURE_MODELS) modelSelect.add(new Option(m.label, m.name));
modelSelect.add(new Option('Hub id or URL (below)', CUSTOM));

const state = readState(storage);
if (![...modelSelect.options].some((o) => o.value === state.model)) state.model = FIXTURE_MODELS[0].name;
modelSelect.value = state.model;
customModel.value = state.custom;
backendSelect.value = state.backend;
modeSelect.value = state.mode;
promptBox.value = state.prompt;
targetBox.value = state.target;
if (params.get('batch')) batchInput.value = params.get('batch')!;

const current = (): PageState => ({
  model: modelSelect.value,
  custom: customModel.value,
  backend: backendSelect.value as BackendChoice,
  mode: modeSelect.value as ControlMode,
  prompt: promptBox.value,
  target: targetBox.value,
});
for (const el of [modelSelect, customModel, backendSelect, modeSelect, promptBox, targetBox]) {
  el.addEventListener('input', () => writeState(storage, current()));
}

const engine = spawnEngine();

engine.api.probe().then(
  (p) => {
    badge.dataset.state = p.webgpu ? 'webgpu' : 'wasm';
    badge.dataset.probe = JSON.stringify(p);
    badge.textContent = p.webgpu ? `WebGPU: ${p.adapter}${p.shaderF16 ? ' (shader-f16)' : ''}` : `WASM (${p.reason ?? 'WebGPU unavailable'})`;
  },
  (e: unknown) => {
    badge.dataset.state = 'error';
    badge.textContent = `probe failed: ${(e as Error).message}`;
  },
);

// The model loads lazily: on the first run after the model or backend selection changed.
let loadedKey: string | null = null;
let loaded: ModelInfo | null = null;

async function ensureModel(): Promise<ModelInfo> {
  const s = current();
  const source = sourceFor(s.model, s.custom, location.origin);
  const key = JSON.stringify([source, s.backend]);
  if (loaded && key === loadedKey) return loaded;
  loaded = null;
  loadedKey = null;
  modelInfo.textContent = '';
  const info = await engine.api.load(
    { source, backend: s.backend, mode: s.mode },
    proxy((p: LoadProgress) => {
      progress.dataset.stage = p.stage;
      status.textContent = `loading: ${p.stage}${p.file ? ` ${p.file}` : ''}${p.total ? ` ${Math.round((100 * p.loaded) / p.total)}%` : ''}`;
    }),
  );
  loaded = info;
  loadedKey = key;
  modelInfo.dataset.info = JSON.stringify(info);
  modelInfo.textContent = `${info.id} (${info.modelType}, ${info.numLayers} layers, ${info.attentionSites} attention sites controlled) on ${info.device}`;
  return info;
}

function showError(e: unknown): void {
  const err = e as { name?: string; code?: string; message?: string };
  errorBox.dataset.errorName = err?.name ?? '';
  errorBox.dataset.errorCode = err?.code ?? '';
  errorBox.textContent = err?.message ? `${err.message}${err.code ? ` (${err.code})` : ''}` : String(e);
}

async function run(kind: 'explain' | 'generate', body: () => Promise<void>): Promise<void> {
  explainButton.disabled = generateButton.disabled = true;
  cancelButton.disabled = false;
  errorBox.textContent = '';
  delete errorBox.dataset.errorCode;
  delete errorBox.dataset.errorName;
  if (kind === 'explain') {
    // No stale heatmap next to a new run's progress or error.
    result.replaceChildren();
    delete result.dataset.explanation;
    result.dataset.state = 'running';
  }
  progress.value = 0;
  progress.max = 1;
  delete progress.dataset.done;
  delete progress.dataset.total;
  try {
    await body();
    status.textContent = 'done';
  } catch (e) {
    if (kind === 'explain') result.dataset.state = 'error';
    status.textContent = '';
    showError(e);
  } finally {
    explainButton.disabled = generateButton.disabled = false;
    cancelButton.disabled = true;
  }
}

explainButton.addEventListener('click', () =>
  run('explain', async () => {
    const s = current();
    await ensureModel();
    status.textContent = 'explaining…';
    const batch = Number(batchInput.value);
    const x = await engine.api.explain(
      { prompt: s.prompt, target: s.target, settings: { mode: s.mode }, ...(batch >= 1 ? { batchSize: Math.floor(batch) } : {}) },
      proxy((p: ExplainProgress) => {
        progress.max = p.total;
        progress.value = p.loaded;
        progress.dataset.done = String(p.loaded);
        progress.dataset.total = String(p.total);
        status.textContent = `passes ${p.loaded}/${p.total}`;
      }),
    );
    renderHeatmapText(result, x);
    result.dataset.state = 'done';
  }),
);

generateButton.addEventListener('click', () =>
  run('generate', async () => {
    await ensureModel();
    status.textContent = 'generating…';
    generation.textContent = '';
    const text = await engine.api.generate(promptBox.value, 20);
    generation.textContent = promptBox.value + text;
  }),
);

cancelButton.addEventListener('click', () => {
  void engine.api.cancel();
  status.textContent = 'cancelling…';
});
