// The picker's variant listing, from the state action down to a local hub-like server: the engine
// port here does what the worker does (describeVariants on a hub source, the backend built from
// the backend choice), without the worker.
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnginePort } from './actions';
import { createActions } from './actions';
import { variantsKey } from './slices/model-slice';
import { createAppStore } from './slices/store';
import { hubSource } from '../runtime/sources/hub-source';
import { describeVariants } from '../runtime/sources/model-files';
import { createWebBackend } from '../runtime/backends/web-backend';
import { type HubFile, type HubServer, repoFromFolder, startHubServer } from '../testing/hub-server';

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

describe('listing a hub model’s variants for the picker', () => {
  let hub: HubServer;
  beforeAll(async () => {
    const tiny = repoFromFolder('fixtures/models/tiny-gpt2');
    const onlyQ4f16 = new Map<string, HubFile>([...tiny].filter(([p]) => !p.startsWith('onnx/')));
    onlyQ4f16.set('onnx/model_q4f16.onnx', { size: 90 * 1024 ** 2 });
    hub = await startHubServer(new Map([
      ['test/gpt2', new Map([['main', tiny]])],
      ['test/only-q4f16', new Map([['main', onlyQ4f16]])],
    ]));
  });
  afterAll(() => hub.close());

  // As the worker builds it: 'webgpu' on an adapter without shader-f16 (SwiftShader), 'wasm' otherwise.
  const port = {
    variants: async (req) => {
      if (req.source.kind !== 'hub') throw new Error('hub only here');
      const gpu = { webgpu: true, adapter: 'google swiftshader', shaderF16: false };
      const backend = createWebBackend(ortWeb, gpu, req.backend === 'wasm' ? 'wasm' : 'webgpu');
      return describeVariants(hubSource(req.source.repo, { endpoint: hub.endpoint }), backend, req.dtype ?? 'auto');
    },
  } as Partial<EnginePort> as EnginePort;

  it('stores the variants with sizes and what auto takes on the chosen backend, or why nothing can load', async () => {
    const store = createAppStore(memory());
    const actions = createActions(store, () => port, { origin: 'http://localhost' });
    store.setState({ modelChoice: { kind: 'hub', repo: 'test/gpt2' }, backend: 'wasm' });
    await actions.listVariants();
    const v = store.getState().variants!;
    expect(v.key).toBe(variantsKey({ kind: 'hub', repo: 'test/gpt2' }, 'wasm'));
    expect(v.listing!.variants.map((x) => x.dtype)).toEqual(['fp32', 'q4']);
    expect(v.listing!.variants.every((x) => typeof x.bytes === 'number' && x.bytes > 1000)).toBe(true);
    expect(v.listing!.chosen).toMatchObject({ dtype: 'q4', file: 'onnx/model_q4.onnx', reason: expect.stringMatching(/^auto for WASM/) });

    store.setState({ modelChoice: { kind: 'hub', repo: 'test/only-q4f16' }, backend: 'webgpu' });
    await actions.listVariants();
    const refused = store.getState().variants!.listing!;
    expect(refused.variants).toEqual([{ dtype: 'q4f16', bytes: 90 * 1024 ** 2 }]);
    expect(refused.chosen).toBeNull();
    expect(refused.problem).toMatch(/has only q4f16 .*no shader-f16\): use the WASM backend/);

    // An explicit dtype the repository lacks: the listing still offers what exists.
    store.setState({ modelChoice: { kind: 'hub', repo: 'test/only-q4f16', dtype: 'q8' }, backend: 'wasm' });
    await actions.listVariants();
    expect(store.getState().variants!.listing).toMatchObject({ chosen: null, problem: expect.stringContaining('Its ONNX files: onnx/model_q4f16.onnx (90 MB)') });

    store.setState({ modelChoice: { kind: 'hub', repo: 'nobody/nothing' } });
    await actions.listVariants();
    expect(store.getState().variants).toMatchObject({ listing: null, error: expect.stringContaining('hub has no model repository nobody/nothing') });
  });
});
