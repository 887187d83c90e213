// The attention control on the project's vision-language fixtures: the ViT encoder and
// GPT-2 decoder (with cross-attention) of an encoder-decoder captioner, and the vision
// encoder and decoder of an Idefics3-style model, whose decoder reads image features
// in its own sequence and so has no cross-attention.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prngFor } from '../../scripts/fixtures/prng';
import type { ControlMode } from '../core/types';
import { CROSS_FACTORS_INPUT, FACTORS_INPUT, insertAttentionControl } from './insert-attention-control';
import { type Model, decodeModel, encodeModel } from './ir/onnx-ir';

const ROOT = 'fixtures/models';
const MODES: ControlMode[] = ['multiplicative', 'log-additive'];
type Feeds = Record<string, ort.Tensor>;

const load = (model: string, file: string) => new Uint8Array(readFileSync(join(ROOT, model, 'onnx', file)));
const config = (model: string) => JSON.parse(readFileSync(join(ROOT, model, 'config.json'), 'utf8')) as Record<string, Record<string, number>>;
const has = (model: string, files: string[]) => files.every((f) => existsSync(join(ROOT, model, 'onnx', f)));

async function run(bytes: Uint8Array, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};
const rows = (x: Float32Array, width: number) => Array.from({ length: x.length / width }, (_, i) => x.subarray(i * width, (i + 1) * width));

const random = (name: string, dims: number[]) => new ort.Tensor('float32', prngFor(7, name).normalArray(dims.reduce((a, b) => a * b, 1), 1), dims);
const int64 = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);
const ones = (n: number) => new Float32Array(n).fill(1);
const withZero = (n: number, j: number) => ones(n).map((v, k) => (k === j ? 0 : v));

/** Empty cache tensors for every past input, heads and head size read from the graph's declared shapes. */
function emptyPast(m: Model): Feeds {
  const feeds: Feeds = {};
  for (const v of m.graph.inputs.filter((i) => i.name.startsWith('past_key_values.'))) {
    feeds[v.name] = new ort.Tensor('float32', new Float32Array(0), [1, v.dims![1] as number, 0, v.dims![3] as number]);
  }
  return feeds;
}

function rewrite(bytes: Uint8Array, mode: ControlMode, expectedLayers: number) {
  const model = decodeModel(bytes);
  const report = insertAttentionControl(model, { mode, expectedLayers });
  return { model, report, bytes: encodeModel(model) };
}

describe.skipIf(!has('tiny-vit-gpt2', ['encoder_model.onnx', 'decoder_model_merged.onnx']))('tiny-vit-gpt2 (ViT encoder, GPT-2 decoder with cross-attention)', () => {
  const name = 'tiny-vit-gpt2';
  const cfg = () => config(name);
  const pixels = () => random('pixel_values', [1, cfg().encoder!.num_channels!, cfg().encoder!.image_size!, cfg().encoder!.image_size!]);
  const encode = async () => (await run(load(name, 'encoder_model.onnx'), { pixel_values: pixels() })).last_hidden_state!;
  const IDS = [362, 17, 140, 5, 88];

  for (const mode of MODES) {
    it(`${mode}: the encoder gets its bidirectional self-attention sites, identity at phi = 1`, async () => {
      const original = load(name, 'encoder_model.onnx');
      const layers = cfg().encoder!.num_hidden_layers!;
      const { model, report, bytes } = rewrite(original, mode, layers);
      expect(report.sites.map((s) => s.role)).toEqual(new Array(layers).fill('self'));
      expect(report.crossFactorsInput).toBeNull();
      const reference = await encode();
      const [, N, E] = reference.dims as [number, number, number];
      const factors = (f: Float32Array) => new ort.Tensor('float32', f, [1, N]);
      const same = (await run(bytes, { pixel_values: pixels(), [FACTORS_INPUT]: factors(ones(N)) })).last_hidden_state!.data as Float32Array;
      expect(maxAbsDiff(reference.data as Float32Array, same)).toBeLessThanOrEqual(1e-6);
      // no causal mask: hiding patch 5 moves the [CLS] token and the patches before it too
      const moved = (await run(bytes, { pixel_values: pixels(), [FACTORS_INPUT]: factors(withZero(N, 5)) })).last_hidden_state!.data as Float32Array;
      rows(reference.data as Float32Array, E).forEach((r, i) => expect(maxAbsDiff(r, rows(moved, E)[i]!), `row ${i}`).toBeGreaterThan(1e-4));
      expect(model.graph.inputs.map((i) => i.name)).toContain(FACTORS_INPUT);
    });

    it(`${mode}: the decoder gets n_layer self and n_layer cross sites, identity, encoder columns take effect`, async () => {
      const original = load(name, 'decoder_model_merged.onnx');
      const nLayer = cfg().decoder!.n_layer!;
      const V = cfg().decoder!.vocab_size!;
      const { model, report, bytes } = rewrite(original, mode, nLayer);
      const graphs = Object.keys(report.layersPerGraph);
      expect(graphs.length).toBeGreaterThan(0);
      for (const g of graphs) {
        expect(report.layersPerGraph[g]).toBe(nLayer);
        expect(report.crossLayersPerGraph[g]).toBe(nLayer);
      }
      expect(report.sites.filter((s) => s.role === 'cross').every((s) => s.keysFrom === 'encoder_hidden_states')).toBe(true);
      expect(report.controlledCrossLayers).toEqual(Array.from({ length: nLayer }, (_, l) => l));
      expect(report.crossFactorsInput).toBe(CROSS_FACTORS_INPUT);

      const enc = await encode();
      const T = enc.dims[1]!;
      const base: Feeds = { input_ids: int64(IDS), encoder_hidden_states: enc, use_cache_branch: new ort.Tensor('bool', [false], [1]), ...emptyPast(decodeModel(original)) };
      const reference = (await run(original, base)).logits!.data as Float32Array;
      const controlled = async (cross: Float32Array, self = ones(IDS.length)) =>
        (await run(bytes, { ...base, [FACTORS_INPUT]: new ort.Tensor('float32', self, [1, IDS.length]), [CROSS_FACTORS_INPUT]: new ort.Tensor('float32', cross, [1, T]) })).logits!
          .data as Float32Array;
      expect(maxAbsDiff(reference, await controlled(ones(T)))).toBeLessThanOrEqual(1e-6);
      const noPatch = await controlled(withZero(T, 3));
      rows(reference, V).forEach((r, i) => expect(maxAbsDiff(r, rows(noPatch, V)[i]!), `row ${i}`).toBeGreaterThan(1e-4));
      // a token column with encoder factors of 1: earlier rows untouched
      const noToken = await controlled(ones(T), withZero(IDS.length, 2));
      expect(maxAbsDiff(reference.subarray(0, 2 * V), noToken.subarray(0, 2 * V))).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(reference.subarray(2 * V), noToken.subarray(2 * V))).toBeGreaterThan(1e-4);
      expect(model.graph.inputs.find((i) => i.name === CROSS_FACTORS_INPUT)!.dims).toEqual(['batch_size', 'encoder_sequence_length']);
    });
  }
});

describe.skipIf(!has('tiny-idefics3', ['vision_encoder.onnx', 'decoder_model_merged.onnx']))('tiny-idefics3 (image features in the decoder sequence)', () => {
  const name = 'tiny-idefics3';
  const cfg = () => config(name);

  for (const mode of MODES) {
    it(`${mode}: the decoder has self-attention only`, async () => {
      const original = load(name, 'decoder_model_merged.onnx');
      const nLayer = cfg().text_config!.num_hidden_layers!;
      const E = cfg().text_config!.hidden_size!;
      const V = cfg().text_config!.vocab_size!;
      const { model, report, bytes } = rewrite(original, mode, nLayer);
      expect(report.sites.map((s) => s.role)).toEqual(new Array(report.sites.length).fill('self'));
      expect(report.crossLayersPerGraph).toEqual({});
      expect(report.crossFactorsInput).toBeNull();
      expect(model.graph.inputs.map((i) => i.name)).not.toContain(CROSS_FACTORS_INPUT);
      const S = 6;
      const base: Feeds = {
        inputs_embeds: random('inputs_embeds', [1, S, E]),
        attention_mask: int64(new Array(S).fill(1)),
        position_ids: int64(Array.from({ length: S }, (_, i) => i)),
        ...emptyPast(model),
      };
      if (model.graph.inputs.some((i) => i.name === 'use_cache_branch')) base.use_cache_branch = new ort.Tensor('bool', [false], [1]);
      const reference = (await run(original, base)).logits!.data as Float32Array;
      const withFactors = async (f: Float32Array) => (await run(bytes, { ...base, [FACTORS_INPUT]: new ort.Tensor('float32', f, [1, S]) })).logits!.data as Float32Array;
      expect(maxAbsDiff(reference, await withFactors(ones(S)))).toBeLessThanOrEqual(1e-6);
      const moved = await withFactors(withZero(S, 2));
      expect(maxAbsDiff(reference.subarray(0, 2 * V), moved.subarray(0, 2 * V))).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(reference.subarray(2 * V), moved.subarray(2 * V))).toBeGreaterThan(1e-4);
    });

    it(`${mode}: the vision encoder gets its bidirectional sites; factors are per image over its patches`, async () => {
      const original = load(name, 'vision_encoder.onnx');
      const vision = cfg().vision_config!;
      const layers = vision.num_hidden_layers!;
      const { report, bytes } = rewrite(original, mode, layers);
      expect(report.sites.map((s) => s.role)).toEqual(new Array(layers).fill('self'));
      expect(report.crossFactorsInput).toBeNull();
      const size = vision.image_size!;
      const patches = (size / vision.patch_size!) ** 2;
      const feeds: Feeds = {
        pixel_values: random('pixel_values', [1, 1, vision.num_channels!, size, size]),
        pixel_attention_mask: new ort.Tensor('bool', new Array(size * size).fill(true), [1, 1, size, size]),
      };
      const reference = (await run(original, feeds)).image_features!;
      const out = async (f: Float32Array) => (await run(bytes, { ...feeds, [FACTORS_INPUT]: new ort.Tensor('float32', f, [1, patches]) })).image_features!.data as Float32Array;
      expect(maxAbsDiff(reference.data as Float32Array, await out(ones(patches)))).toBeLessThanOrEqual(1e-6);
      const moved = await out(withZero(patches, patches - 1));
      // every output token, the first ones included, reads the last patch
      const width = reference.dims[2]!;
      rows(reference.data as Float32Array, width).forEach((r, i) => expect(maxAbsDiff(r, rows(moved, width)[i]!), `token ${i}`).toBeGreaterThan(1e-4));
    });
  }
});
