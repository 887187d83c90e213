// Which variant a load picks, per backend, from repositories served by a local server that answers
// like the hub (tree listing, resolve redirects, error headers). The backends are built as the app
// and the command line build them; the variants named by size only are never downloaded.
import { statSync } from 'node:fs';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFile, type HubServer, repoFromFolder, startHubServer } from '../../testing/hub-server';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from '../atman/atman-model';
import { type BackendCaps, WASM_MAX_BYTES, chooseVariant, preferenceOrder } from './dtype-choice';
import { explain } from '../atman/explain';
import { hubSource } from './hub-source';
import { resolveModelFiles } from './model-files';
import { urlSource } from './model-source';
import { folderSource } from './folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { createWebBackend } from '../backends/web-backend';

const MODELS = 'fixtures/models';
const gpuF16 = createWebBackend(ortWeb, { webgpu: true, adapter: 'test adapter', shaderF16: true }, 'webgpu');
const gpuNoF16 = createWebBackend(ortWeb, { webgpu: true, adapter: 'google swiftshader', shaderF16: false }, 'webgpu');
const wasm = createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm');
const cpu = createNodeBackend({ threads: 1 });

const MB = 1024 ** 2;
const GB = 1024 ** 3;

/** config.json and tokenizer.json of tiny-gpt2, plus ONNX files declared by size. */
function sizedRepo(onnx: Record<string, number>): Map<string, HubFile> {
  const base = repoFromFolder(`${MODELS}/tiny-gpt2`);
  const out = new Map<string, HubFile>([...base].filter(([p]) => !p.startsWith('onnx/')));
  for (const [p, size] of Object.entries(onnx)) out.set(p, { size });
  return out;
}

describe('choosing the variant from what a hub repository has', () => {
  let hub: HubServer;
  beforeAll(async () => {
    const repos = new Map<string, Map<string, Map<string, HubFile>>>();
    const add = (id: string, files: Map<string, HubFile>): void => void repos.set(id, new Map([['main', files]]));
    add('test/only-q4f16', sizedRepo({ 'onnx/model_q4f16.onnx': 90 * MB }));
    add('test/only-q8', sizedRepo({ 'onnx/model_quantized.onnx': 130 * MB }));
    add('test/all', sizedRepo({
      'onnx/model.onnx': 2 * MB,
      'onnx/model.onnx_data': 500 * MB,
      'onnx/model_fp16.onnx': 250 * MB,
      'onnx/model_quantized.onnx': 130 * MB,
      'onnx/model_q4.onnx': 180 * MB,
      'onnx/model_q4f16.onnx': 110 * MB,
    }));
    add('test/huge', sizedRepo({ 'onnx/model_q4.onnx': 1 * MB, 'onnx/model_q4.onnx_data': 5 * GB, 'onnx/model_quantized.onnx': 3 * GB, 'onnx/model_fp16.onnx': 14 * GB }));
    add('test/fp32-external', repoFromFolder(`${MODELS}/tiny-gpt2-external`));
    add('test/gpt2', repoFromFolder(`${MODELS}/tiny-gpt2`));
    // A vision-language repository whose q4 lacks the embedding graph: q4 is not a variant of it.
    const vlm = repoFromFolder(`${MODELS}/tiny-idefics3`);
    for (const [p, size] of Object.entries({ 'onnx/decoder_model_merged_q4.onnx': 5 * MB, 'onnx/vision_encoder_q4.onnx': 2 * MB })) vlm.set(p, { size });
    add('test/idefics3', vlm);
    hub = await startHubServer(repos, { pageSize: 4 });
  });
  afterAll(() => hub.close());

  const choose = async (repo: string, backend: BackendCaps, dtype: 'auto' | 'q8' | 'q4' | 'fp16' = 'auto') =>
    (await resolveModelFiles(hubSource(repo, { endpoint: hub.endpoint }), backend, dtype)).choice;

  it('auto picks by backend and adapter, and says why', async () => {
    const table: Array<[string, BackendCaps, string, RegExp]> = [
      ['test/all', gpuF16, 'onnx/model_q4f16.onnx', /^auto for WebGPU with shader-f16, which prefers q4f16 > q4 > fp16 > fp32 > q8: chose q4f16 \(onnx\/model_q4f16\.onnx, 110 MB\)\.$/],
      ['test/all', gpuNoF16, 'onnx/model_q4.onnx', /^auto for WebGPU without shader-f16, which prefers q4 > fp32 > q8 \(fp16 and q4f16 need shader-f16\): chose q4/],
      ['test/all', wasm, 'onnx/model_q4.onnx', /^auto for WASM, which prefers q4 > q8 > fp32 > fp16 > q4f16: chose q4 \(onnx\/model_q4\.onnx, 180 MB\)/],
      // fp32 with its external weights counted in the size
      ['test/all', cpu, 'onnx/model.onnx', /^auto for the CPU \(onnxruntime-node\), which prefers fp32 > .*: chose fp32 \(onnx\/model\.onnx, 502 MB\)\.$/],
      ['test/only-q4f16', gpuF16, 'onnx/model_q4f16.onnx', /prefers q4f16 > .*: chose q4f16/],
      ['test/only-q4f16', wasm, 'onnx/model_q4f16.onnx', /the repository has no q4 or q8 or fp32 or fp16: chose q4f16/],
      ['test/only-q4f16', cpu, 'onnx/model_q4f16.onnx', /the repository has no fp32 or q4 or q8 or fp16: chose q4f16/],
      ['test/only-q8', gpuF16, 'onnx/model_quantized.onnx', /the repository has no q4f16 or q4 or fp16 or fp32: chose q8/],
      ['test/only-q8', gpuNoF16, 'onnx/model_quantized.onnx', /chose q8/],
      ['test/only-q8', wasm, 'onnx/model_quantized.onnx', /the repository has no q4: chose q8 \(onnx\/model_quantized\.onnx, 130 MB\)/],
      ['test/only-q8', cpu, 'onnx/model_quantized.onnx', /the repository has no fp32 or q4: chose q8/],
      // WASM cannot hold q4 (5 GB of external weights): q8 instead, and the reason says so
      ['test/huge', wasm, 'onnx/model_quantized.onnx', /q4 \(5\.0 GB\) is more than the 4 GB WASM can address: chose q8 \(onnx\/model_quantized\.onnx, 3\.0 GB\)/],
      ['test/huge', gpuNoF16, 'onnx/model_q4.onnx', /chose q4 \(onnx\/model_q4\.onnx, 5\.0 GB\)/],
      ['test/fp32-external', gpuNoF16, 'onnx/model.onnx', /the repository has no q4: chose fp32/],
    ];
    for (const [repo, backend, file, reason] of table) {
      const c = await choose(repo, backend);
      expect(c.files[0], `${repo} on ${backend.name}/${backend.supportsFp16}`).toBe(file);
      expect(c.reason, `${repo} on ${backend.name}/${backend.supportsFp16}`).toMatch(reason);
      expect(c.requested).toBe('auto');
    }
    expect((await choose('test/all', cpu)).variants.map((v) => [v.dtype, v.bytes])).toEqual([
      ['fp32', 502 * MB],
      ['fp16', 250 * MB],
      ['q8', 130 * MB],
      ['q4', 180 * MB],
      ['q4f16', 110 * MB],
    ]);
    // The listing answered every question: no file was probed or downloaded but config.json.
    expect(hub.log.filter((l) => l.startsWith('HEAD'))).toEqual([]);
    expect(hub.log.filter((l) => l.includes('/resolve/')).every((l) => l.endsWith('/config.json'))).toBe(true);
  });

  it('a vision-language model takes a dtype only when every one of its graphs has it', async () => {
    const { choice, graphs } = await resolveModelFiles(hubSource('test/idefics3', { endpoint: hub.endpoint }), gpuNoF16);
    expect(choice.variants.map((v) => v.dtype)).toEqual(['fp32']);
    expect(graphs).toEqual({ decoder: 'onnx/decoder_model_merged.onnx', encoder: 'onnx/vision_encoder.onnx', embedTokens: 'onnx/embed_tokens.onnx' });
    expect(choice.reason).toMatch(/the repository has no q4: chose fp32 \(onnx\/decoder_model_merged\.onnx \+ onnx\/vision_encoder\.onnx \+ onnx\/embed_tokens\.onnx, \d+ KB\)/);
    await expectCode(choose('test/idefics3', cpu, 'q4'), 'MODEL_FILES_MISSING', /no q4 variant \(looked for onnx\/decoder_model_merged_q4\.onnx, onnx\/vision_encoder_q4\.onnx, onnx\/embed_tokens_q4\.onnx\)/);
  });

  it('never falls back to a 16-bit variant the backend cannot run', async () => {
    expect(preferenceOrder(gpuNoF16)).toEqual(['q4', 'fp32', 'q8']);
    const msg = await expectCode(choose('test/only-q4f16', gpuNoF16), 'FP16_UNSUPPORTED', /has only q4f16 \(onnx\/model_q4f16\.onnx, 90 MB\), which computes in 16-bit floats/);
    expect(msg).toMatch(/no shader-f16\): use the WASM backend/);
    await expectCode(choose('test/all', gpuNoF16, 'fp16'), 'FP16_UNSUPPORTED', /shader-f16/);
  });

  it('refuses when no variant fits WASM, naming the sizes', async () => {
    const only = new Map([['onnx/model_q4.onnx', 5 * GB]]).entries();
    const files = [...only].map(([path, size]) => ({ path, size }));
    await expectCode(async () => chooseVariant('big', files, ['model'], wasm), 'MODEL_UNSUPPORTED', /q4 \(5\.0 GB\) is more than the 4 GB/);
    expect(WASM_MAX_BYTES).toBe(4 * GB);
  });

  it('an explicit dtype overrides; a missing one names the ONNX files the repository has', async () => {
    const c = await choose('test/all', cpu, 'q8');
    expect(c).toMatchObject({ dtype: 'q8', files: ['onnx/model_quantized.onnx'], requested: 'q8', reason: 'q8 as asked' });
    const msg = await expectCode(choose('test/only-q4f16', cpu, 'q4'), 'MODEL_FILES_MISSING');
    expect(msg).toBe(
      'test/only-q4f16 has no q4 variant (looked for onnx/model_q4.onnx). Its ONNX files: onnx/model_q4f16.onnx (90 MB). The variants it has: q4f16; choose one of them or auto.',
    );
  });

  it('loads end to end from the server: fp32 with external weights on the CPU, the same scores as from the folder', async () => {
    hub.log.length = 0;
    const fromHub = await AtmanModel.load(hubSource('test/fp32-external', { endpoint: hub.endpoint }), cpu);
    const fromDisk = await AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2-external`), cpu);
    try {
      expect(fromHub.onnxFile).toBe('onnx/model.onnx');
      expect((await fromHub.original()).external.map((f) => f.path)).toEqual(['model.onnx_data']);
      // The external weights were known from the listing: fetched once, never probed.
      expect(hub.log.filter((l) => l.startsWith('HEAD'))).toEqual([]);
      expect(hub.log.filter((l) => l === 'GET /test/fp32-external/resolve/main/onnx/model.onnx_data')).toHaveLength(1);
      const req = { prompt: 'The cat sat on the mat.', target: ' The cat' };
      const [a, b] = [await explain(fromHub, req), await explain(fromDisk, req)];
      expect(a.model).toMatchObject({ id: 'test/fp32-external', dtype: 'fp32', backend: 'cpu', file: 'onnx/model.onnx' });
      expect(a.model.dtypeReason).toMatch(/^auto for the CPU \(onnxruntime-node\), which prefers fp32 > q4 > q8 > fp16 > q4f16: chose fp32 \(onnx\/model\.onnx, \d+ KB\)\.$/);
      // its size counts the external weights
      const onDisk = ['model.onnx', 'model.onnx_data'].reduce((n, f) => n + statSync(`${MODELS}/tiny-gpt2-external/onnx/${f}`).size, 0);
      expect(fromHub.variant.bytes).toBe(onDisk);
      expect(a.units.map((u) => u.score)).toEqual(b.units.map((u) => u.score));
    } finally {
      await fromHub.release();
      await fromDisk.release();
    }
  });

  it('loads end to end on WASM (onnxruntime-web in Node): auto takes q4; an explicit fp32 takes fp32', async () => {
    const auto = await AtmanModel.load(hubSource('test/gpt2', { endpoint: hub.endpoint }), wasm);
    try {
      expect([auto.dtype, auto.onnxFile]).toEqual(['q4', 'onnx/model_q4.onnx']);
      expect(auto.variant.reason).toMatch(/^auto for WASM, .*chose q4 \(onnx\/model_q4\.onnx, \d+ KB\)/);
      const req = { prompt: 'The cat sat on the mat. The dog ran to the cat.', target: ' The cat' };
      const onWasm = await explain(auto, req);
      expect(onWasm.model.file).toBe('onnx/model_q4.onnx');
      // The browsers' default variant agrees with the same variant on onnxruntime-node (what the browser tests compare with).
      const onCpu = await AtmanModel.load(hubSource('test/gpt2', { endpoint: hub.endpoint }), cpu, { dtype: 'q4' });
      try {
        const ref = await explain(onCpu, req);
        expect(ref.units.map((u) => u.label)).toEqual(onWasm.units.map((u) => u.label));
        const diff = Math.max(...ref.units.map((u, i) => Math.abs(u.score - onWasm.units[i]!.score)));
        expect(diff).toBeLessThan(1e-4);
      } finally {
        await onCpu.release();
      }
    } finally {
      await auto.release();
    }
    const asked = await AtmanModel.load(hubSource('test/gpt2', { endpoint: hub.endpoint }), wasm, { dtype: 'fp32' });
    try {
      expect([asked.dtype, asked.onnxFile, asked.variant.reason]).toEqual(['fp32', 'onnx/model.onnx', 'fp32 as asked']);
    } finally {
      await asked.release();
    }
  });

  it('a plain base URL (no listing) is probed with HEAD and chooses the same way', async () => {
    hub.log.length = 0;
    const src = urlSource(`${hub.endpoint}/test/gpt2/resolve/main/`, 'gpt2 by URL');
    const m = await AtmanModel.load(src, cpu, { dtype: 'q4', selfCheck: false });
    try {
      expect(m.onnxFile).toBe('onnx/model_q4.onnx');
      expect(m.variant.variants.map((v) => [v.dtype, v.bytes])).toEqual([
        ['fp32', null],
        ['q4', null],
      ]);
      expect(hub.log.some((l) => l === 'HEAD /test/gpt2/resolve/main/onnx/model_q4.onnx')).toBe(true);
    } finally {
      await m.release();
    }
    await expectCode(AtmanModel.load(urlSource(`${hub.endpoint}/test/gpt2/resolve/main/`), cpu, { dtype: 'q8' }), 'MODEL_FILES_MISSING', /no q8 variant.*Its ONNX files: onnx\/model\.onnx \(size unknown\), onnx\/model_q4\.onnx \(size unknown\)/);
  });
});
