// Decoder cross-attention (encoder-decoder captioners) and bidirectional encoders under the
// attention control, on graphs built here the way optimum exports them and run in onnxruntime.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FLOAT32_MIN, GraphBuilder, makeModel } from '../../scripts/fixtures/builder';
import { prngFor } from '../../scripts/fixtures/prng';
import { isAtmanError } from '../core/errors';
import type { ControlMode } from '../core/types';
import { isEncoderInput } from './attention-role';
import { CROSS_FACTORS_INPUT, FACTORS_INPUT, insertAttentionControl } from './insert-attention-control';
import { DataType, type Graph, type Model, decodeModel, encodeModel } from './ir/onnx-ir';
import { makeNode, makeValueInfo } from './ir/onnx-build';

const SEED = 99173;
const MODES: ControlMode[] = ['multiplicative', 'log-additive'];

interface Dims {
  vocab: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  nPositions: number;
}
const DIMS: Dims = { vocab: 40, nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16 };

/** Weights live in the main graph; If branches read them from the outer scope, as in optimum's merged decoders. */
class Weights {
  constructor(readonly main: GraphBuilder) {}
  get(name: string, dims: number[], std: number, mean = 0): string {
    if (!this.main.weights.has(name)) this.main.weight(name, dims, prngFor(SEED, name).normalArray(dims.reduce((a, b) => a * b, 1), std, mean));
    return name;
  }
  data(name: string): Float32Array {
    return this.main.weights.get(name)!.data;
  }
}

const linear = (b: GraphBuilder, W: Weights, x: string, name: string, K: number, N: number, std: number): string =>
  b.op('Add', [b.op('MatMul', [x, W.get(`${name}.weight`, [K, N], std)]), W.get(`${name}.bias`, [N], 0.05)]);

const layerNorm = (b: GraphBuilder, W: Weights, x: string, name: string, E: number): string =>
  b.op('LayerNormalization', [x, W.get(`${name}.weight`, [E], 0.1, 1), W.get(`${name}.bias`, [E], 0.05)], { axis: -1, epsilon: { float: 1e-5 } });

const heads = (b: GraphBuilder, t: string, H: number, D: number): string =>
  b.op('Transpose', [b.op('Reshape', [t, b.i64([0, 0, H, D])])], { perm: [0, 2, 1, 3] });

/** GPT-2's eager attention: q·kᵀ / sqrt(D), optional mask, Softmax, ·v, heads merged back. */
function attend(b: GraphBuilder, qh: string, kh: string, vh: string, D: number, E: number, mask?: (scaled: string) => string): string {
  const scores = b.op('MatMul', [qh, b.op('Transpose', [kh], { perm: [0, 1, 3, 2] })]);
  const scaled = b.op('Div', [scores, b.f32(Math.sqrt(D))]);
  const probs = b.op('Softmax', [mask ? mask(scaled) : scaled], { axis: -1 });
  const ctx = b.op('MatMul', [probs, vh]);
  return b.op('Reshape', [b.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), b.i64([0, 0, E])]);
}

/** Causal mask rows [total - seq, total) of a [1, 1, P, P] buffer, as transformers' GPT-2 slices it. */
function causalMask(b: GraphBuilder, P: number, seqLen: string, totalLen: string, maskBias?: string): (scaled: string) => string {
  const causal = new Uint8Array(P * P);
  for (let i = 0; i < P; i++) for (let j = 0; j <= i; j++) causal[i * P + j] = 1;
  return (scaled) => {
    const buf = b.constant(DataType.BOOL, [1, 1, P, P], causal);
    const rows = b.op('Slice', [buf, b.op('Sub', [totalLen, seqLen]), totalLen, b.i64([2]), b.i64([1])]);
    const cm = b.op('Slice', [rows, b.i64([0]), totalLen, b.i64([3]), b.i64([1])]);
    const where = b.op('Where', [cm, scaled, b.f32(FLOAT32_MIN)]);
    return maskBias ? b.op('Add', [where, maskBias]) : where;
  };
}

interface KV {
  key: string;
  value: string;
}

interface LayerIO {
  h: string;
  enc: string;
  mask: (scaled: string) => string;
  past?: KV;
  crossPast?: KV;
}

/**
 * One GPT-2 block with cross-attention (transformers' GPT2Block, add_cross_attention):
 * self-attention, then q from the decoder and k, v from the encoder output, then the MLP.
 * `withNorms: false` leaves out layer norms and MLP, for the float64 reference.
 */
function gpt2CrossBlock(b: GraphBuilder, W: Weights, d: Dims, l: number, io: LayerIO, withNorms = true) {
  const E = d.nEmbd;
  const H = d.nHead;
  const D = E / H;
  const p = `h.${l}`;
  const norm = (x: string, n: string) => (withNorms ? b.within(n, () => layerNorm(b, W, x, `${p}.${n}`, E)) : x);
  const self = b.within(`h.${l}/attn`, () => {
    const qkv = linear(b, W, norm(io.h, 'ln_1'), `${p}.attn.c_attn`, E, 3 * E, 0.35);
    const [q, k, v] = b.opN('Split', [qkv, b.i64([E, E, E])], 3, { axis: 2 }) as [string, string, string];
    let kh = heads(b, k, H, D);
    let vh = heads(b, v, H, D);
    if (io.past) {
      kh = b.op('Concat', [io.past.key, kh], { axis: 2 });
      vh = b.op('Concat', [io.past.value, vh], { axis: 2 });
    }
    const out = linear(b, W, attend(b, heads(b, q, H, D), kh, vh, D, E, io.mask), `${p}.attn.c_proj`, E, E, 0.15);
    return { out, present: { key: kh, value: vh } };
  });
  const h1 = b.op('Add', [io.h, self.out]);
  const cross = b.within(`h.${l}/crossattention`, () => {
    const q = linear(b, W, norm(h1, 'ln_cross_attn'), `${p}.crossattention.q_attn`, E, E, 0.35);
    let kh: string;
    let vh: string;
    if (io.crossPast) {
      kh = io.crossPast.key;
      vh = io.crossPast.value;
    } else {
      const kv = linear(b, W, io.enc, `${p}.crossattention.c_attn`, E, 2 * E, 0.35);
      const [k, v] = b.opN('Split', [kv, b.i64([E, E])], 2, { axis: 2 }) as [string, string];
      kh = heads(b, k, H, D);
      vh = heads(b, v, H, D);
    }
    const out = linear(b, W, attend(b, heads(b, q, H, D), kh, vh, D, E), `${p}.crossattention.c_proj`, E, E, 0.15);
    return { out, present: { key: kh, value: vh } };
  });
  let h = b.op('Add', [h1, cross.out]);
  if (withNorms) {
    const mlp = b.within(`h.${l}/mlp`, () => {
      const fc = linear(b, W, norm(h, 'ln_2'), `${p}.mlp.c_fc`, E, 4 * E, 0.15);
      return linear(b, W, b.op('Tanh', [fc]), `${p}.mlp.c_proj`, 4 * E, E, 0.1);
    });
    h = b.op('Add', [h, mlp]);
  }
  return { h, present: self.present, crossPresent: cross.present };
}

interface DecoderVariant {
  name: string;
  /** wrap the layers in an If on use_cache_branch, as optimum's decoder_model_merged does */
  merged: boolean;
  /** cache cross keys/values as past_key_values.N.encoder.* (BART/Whisper layout) */
  crossCache?: boolean;
}

/** A GPT-2 decoder cross-attending to `encoder_hidden_states` (VisionEncoderDecoder layout). */
function buildCrossDecoder(d: Dims, v: DecoderVariant): Model {
  const { nLayer, nHead: H, nEmbd: E, vocab: V, nPositions: P } = d;
  const D = E / H;
  const main = new GraphBuilder('main_graph');
  const W = new Weights(main);
  const inputIds = main.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const attentionMask = main.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const positionIds = main.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const enc = main.input('encoder_hidden_states', DataType.FLOAT, ['batch_size', 'encoder_sequence_length', E]);
  const selfName = (l: number, k: string) => (v.crossCache ? `${l}.decoder.${k}` : `${l}.${k}`);
  const kvDims = (len: string) => ['batch_size', H, len, D];
  const past = v.merged
    ? Array.from({ length: nLayer }, (_, l) => ({
        key: main.input(`past_key_values.${selfName(l, 'key')}`, DataType.FLOAT, kvDims('past_sequence_length')),
        value: main.input(`past_key_values.${selfName(l, 'value')}`, DataType.FLOAT, kvDims('past_sequence_length')),
      }))
    : null;
  const crossPast = v.crossCache
    ? Array.from({ length: nLayer }, (_, l) => ({
        key: main.input(`past_key_values.${l}.encoder.key`, DataType.FLOAT, kvDims('encoder_sequence_length_out')),
        value: main.input(`past_key_values.${l}.encoder.value`, DataType.FLOAT, kvDims('encoder_sequence_length_out')),
      }))
    : null;
  const outputs: Array<[string, Dim3or4]> = [['logits', ['batch_size', 'sequence_length', V]]];
  for (let l = 0; l < nLayer && v.merged; l++) {
    for (const k of ['key', 'value']) outputs.push([`present.${selfName(l, k)}`, kvDims('total_sequence_length')]);
    if (v.crossCache) for (const k of ['key', 'value']) outputs.push([`present.${l}.encoder.${k}`, kvDims('encoder_sequence_length_out')]);
  }

  const body = (b: GraphBuilder, useCache: boolean): string[] => {
    const wte = W.get('wte.weight', [V, E], 0.2);
    let h = b.op('Add', [b.op('Gather', [wte, inputIds]), b.op('Gather', [W.get('wpe.weight', [P, E], 0.1), positionIds])]);
    const maskBias = b.op('Mul', [b.op('Sub', [b.f32(1), b.op('Cast', [b.op('Unsqueeze', [attentionMask, b.i64([1, 2])])], { to: DataType.FLOAT })]), b.f32(FLOAT32_MIN)]);
    const seqLen = b.op('Gather', [b.op('Shape', [inputIds]), b.i64([1])], { axis: 0 });
    const totalLen = b.op('Gather', [b.op('Shape', [attentionMask]), b.i64([1])], { axis: 0 });
    const mask = causalMask(b, P, seqLen, totalLen, maskBias);
    const outs: string[] = [];
    for (let l = 0; l < nLayer; l++) {
      const r = gpt2CrossBlock(b, W, d, l, { h, enc, mask, past: useCache ? past?.[l] : undefined, crossPast: useCache ? crossPast?.[l] : undefined });
      h = r.h;
      if (v.merged) outs.push(r.present.key, r.present.value);
      // the cache branch passes the cached cross keys/values on unchanged
      if (v.crossCache) outs.push(...(useCache ? [b.op('Identity', [r.crossPresent.key]), b.op('Identity', [r.crossPresent.value])] : [r.crossPresent.key, r.crossPresent.value]));
    }
    const hf = layerNorm(b, W, h, 'ln_f', E);
    const logits = b.op('MatMul', [hf, W.get('lm_head.weight', [E, V], 0.3)]);
    return [logits, ...outs];
  };

  if (!v.merged) {
    const [logits] = body(main, false);
    main.rename(logits!, 'logits');
  } else {
    const branch = (name: string, useCache: boolean): Graph => {
      const b = new GraphBuilder(name);
      const outs = b.within(name, () => body(b, useCache));
      b.graph.outputs.push(...outs.map((o) => makeValueInfo(o, DataType.FLOAT, null)));
      return b.graph;
    };
    const useCache = main.input('use_cache_branch', DataType.BOOL, [1]);
    main.graph.nodes.push(
      makeNode('If', [useCache], outputs.map(([n]) => n), { then_branch: branch('then', true), else_branch: branch('else', false) }, { name: 'optimum::if' }),
    );
  }
  for (const [n, dims] of outputs) main.output(n, DataType.FLOAT, dims);
  return makeModel(main);
}
type Dim3or4 = Array<string | number>;

const S = 6;
const T = 5;
const IDS = [3, 17, 22, 5, 17, 9];

function encoderStates(batch: number, E: number): Float32Array {
  const one = prngFor(SEED, 'encoder_hidden_states').normalArray(T * E, 1);
  return Float32Array.from({ length: batch * T * E }, (_, i) => one[i % (T * E)]!);
}

interface FeedOpts {
  batch: number;
  ids?: number[];
  pastLen?: number;
  past?: Record<string, ort.Tensor>;
  factors?: Float32Array;
  crossFactors?: Float32Array;
}

function decoderFeeds(m: Model, o: FeedOpts): Record<string, ort.Tensor> {
  const ids = o.ids ?? IDS;
  const pastLen = o.pastLen ?? 0;
  const total = pastLen + ids.length;
  const { nHead: H, nEmbd: E } = DIMS;
  const rows = (n: number, f: (i: number) => bigint) => new ort.Tensor('int64', BigInt64Array.from({ length: o.batch * n }, (_, j) => f(j % n)), [o.batch, n]);
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of m.graph.inputs) {
    if (v.name === 'input_ids') feeds[v.name] = rows(ids.length, (i) => BigInt(ids[i]!));
    else if (v.name === 'attention_mask') feeds[v.name] = rows(total, () => 1n);
    else if (v.name === 'position_ids') feeds[v.name] = rows(ids.length, (i) => BigInt(pastLen + i));
    else if (v.name === 'encoder_hidden_states') feeds[v.name] = new ort.Tensor('float32', encoderStates(o.batch, E), [o.batch, T, E]);
    else if (v.name === 'use_cache_branch') feeds[v.name] = new ort.Tensor('bool', [pastLen > 0], [1]);
    else if (v.name.startsWith('past_key_values.')) {
      const len = v.name.includes('.encoder.') ? (o.past ? T : 0) : pastLen;
      feeds[v.name] = o.past?.[v.name] ?? new ort.Tensor('float32', new Float32Array(0), [o.batch, H, len, E / H]);
    } else if (v.name === FACTORS_INPUT) feeds[v.name] = new ort.Tensor('float32', o.factors ?? new Float32Array(o.batch * total).fill(1), [o.batch, total]);
    else if (v.name === CROSS_FACTORS_INPUT) feeds[v.name] = new ort.Tensor('float32', o.crossFactors ?? new Float32Array(o.batch * T).fill(1), [o.batch, T]);
    else throw new Error(`unexpected input ${v.name}`);
  }
  return feeds;
}

async function runGraph(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  // quiet: the ViT graph lists its weights as inputs on purpose, which onnxruntime warns about
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}
const logitsOf = async (bytes: Uint8Array, feeds: Record<string, ort.Tensor>) => (await runGraph(bytes, feeds)).logits!.data as Float32Array;

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

const rewrite = (m: Model, opts: Parameters<typeof insertAttentionControl>[1]) => {
  const copy = decodeModel(encodeModel(m));
  const report = insertAttentionControl(copy, opts);
  return { model: copy, report, bytes: encodeModel(copy) };
};

const VARIANTS: DecoderVariant[] = [
  { name: 'plain decoder', merged: false },
  { name: 'merged If, cross keys recomputed each step (GPT-2)', merged: true },
  { name: 'merged If, cross keys cached as past_key_values.N.encoder.* (BART)', merged: true, crossCache: true },
];

describe.each(VARIANTS)('decoder cross-attention: $name', (variant) => {
  const original = buildCrossDecoder(DIMS, variant);
  const originalBytes = encodeModel(original);
  const L = DIMS.nLayer;
  const V = DIMS.vocab;

  it('classifies one self- and one cross-attention site per layer and adds both factor inputs', () => {
    const { model, report } = rewrite(original, { mode: 'multiplicative', expectedLayers: L });
    const graphs = variant.merged ? ['main/optimum::if/then_branch', 'main/optimum::if/else_branch'] : ['main'];
    expect(Object.keys(report.layersPerGraph).sort()).toEqual([...graphs].sort());
    for (const g of graphs) {
      expect(report.layersPerGraph[g]).toBe(L);
      expect(report.crossLayersPerGraph[g]).toBe(L);
      const sites = report.sites.filter((s) => s.graph === g);
      expect(sites.map((s) => `${s.role}${s.layer}`)).toEqual(Array.from({ length: L }, (_, l) => [`self${l}`, `cross${l}`]).flat());
      for (const s of sites) {
        const cached = variant.crossCache && g.endsWith('then_branch');
        expect(s.keysFrom).toBe(s.role === 'cross' ? (cached ? `past_key_values.${s.layer}.encoder.key` : 'encoder_hidden_states') : undefined);
      }
    }
    expect(report.controlledLayers).toEqual([0, 1]);
    expect(report.controlledCrossLayers).toEqual([0, 1]);
    expect(report.factorsInput).toBe(FACTORS_INPUT);
    expect(report.crossFactorsInput).toBe(CROSS_FACTORS_INPUT);
    const cross = model.graph.inputs.find((i) => i.name === CROSS_FACTORS_INPUT)!;
    expect([cross.elemType, cross.dims]).toEqual([DataType.FLOAT, ['batch_size', 'encoder_sequence_length']]);
    expect(model.graph.inputs.find((i) => i.name === FACTORS_INPUT)!.dims).toEqual(['batch_size', 'total_sequence_length']);
  });

  for (const mode of MODES) {
    it(`${mode}: all-ones identity, encoder columns suppressed, self factors as before`, async () => {
      const reference = await logitsOf(originalBytes, decoderFeeds(original, { batch: 1 }));
      const { model, bytes } = rewrite(original, { mode, expectedLayers: L });
      const selfOnly = rewrite(original, { mode, roles: { cross: false } });
      expect(selfOnly.report.crossFactorsInput).toBeNull();
      expect(selfOnly.model.graph.inputs.some((i) => i.name === CROSS_FACTORS_INPUT)).toBe(false);

      // items: 0 all ones; 1 encoder column j at 0.1; 2 encoder column j at 0; 3 token column 3 at 0.1
      const j = 2;
      const crossFactors = new Float32Array(4 * T).fill(1);
      crossFactors[T + j] = 0.1;
      crossFactors[2 * T + j] = 0;
      const factors = new Float32Array(4 * S).fill(1);
      factors[3 * S + 3] = 0.1;
      const out = await logitsOf(bytes, decoderFeeds(model, { batch: 4, factors, crossFactors }));
      const item = (b: number) => out.subarray(b * S * V, (b + 1) * S * V);
      expect(maxAbsDiff(reference, item(0))).toBeLessThanOrEqual(1e-6);
      for (const b of [1, 2]) {
        // every decoder position reads every encoder position: all rows move
        for (let i = 0; i < S; i++) expect(maxAbsDiff(reference.subarray(i * V, (i + 1) * V), item(b).subarray(i * V, (i + 1) * V))).toBeGreaterThan(1e-3);
        expect(item(b).every(Number.isFinite)).toBe(true);
      }
      expect(maxAbsDiff(item(1), item(2))).toBeGreaterThan(1e-4);
      // token column 3 with encoder factors of 1: causal prefix untouched, and the same as controlling self-attention alone
      expect(maxAbsDiff(reference.subarray(0, 3 * V), item(3).subarray(0, 3 * V))).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(reference.subarray(3 * V), item(3).subarray(3 * V))).toBeGreaterThan(1e-3);
      const alone = await logitsOf(selfOnly.bytes, decoderFeeds(selfOnly.model, { batch: 1, factors: factors.subarray(3 * S) }));
      expect(maxAbsDiff(alone, item(3))).toBeLessThanOrEqual(1e-6);
    });
  }

  if (variant.merged) {
    for (const mode of MODES) {
      it(`${mode}: the cache branch controls cross-attention the same way`, async () => {
        const { model, bytes } = rewrite(original, { mode });
        const crossFactors = Float32Array.from({ length: T }, (_, k) => (k === 1 ? 0 : k === 3 ? 0.3 : 1));
        const full = await logitsOf(bytes, decoderFeeds(model, { batch: 1, crossFactors }));
        const prefix = await runGraph(bytes, decoderFeeds(model, { batch: 1, ids: IDS.slice(0, S - 1), crossFactors }));
        const past: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(prefix)) if (name.startsWith('present.')) past[name.replace('present.', 'past_key_values.')] = t;
        const step = await logitsOf(bytes, decoderFeeds(model, { batch: 1, ids: IDS.slice(S - 1), pastLen: S - 1, past, crossFactors }));
        expect(maxAbsDiff(full.subarray((S - 1) * V), step)).toBeLessThanOrEqual(1e-5);
        const plain = await logitsOf(bytes, decoderFeeds(model, { batch: 1, ids: IDS.slice(S - 1), pastLen: S - 1, past }));
        expect(maxAbsDiff(plain, step)).toBeGreaterThan(1e-3);
      });
    }
  }
});

describe('choosing what to control in an encoder-decoder model', () => {
  const original = buildCrossDecoder(DIMS, VARIANTS[0]!);
  const V = DIMS.vocab;

  it('restricts layers per role: [1] is the self- and the cross-attention of layer 1', async () => {
    const only = rewrite(original, { mode: 'multiplicative', layers: [1] });
    expect(only.report.controlledLayers).toEqual([1]);
    expect(only.report.controlledCrossLayers).toEqual([1]);
    expect(only.report.sites.map((s) => `${s.role}${s.layer}:${s.controlled}`)).toEqual(['self0:false', 'cross0:false', 'self1:true', 'cross1:true']);
    const all = rewrite(original, { mode: 'multiplicative' });
    const crossFactors = Float32Array.from({ length: T }, (_, k) => (k === 0 ? 0 : 1));
    const a = await logitsOf(only.bytes, decoderFeeds(only.model, { batch: 1, crossFactors }));
    const b = await logitsOf(all.bytes, decoderFeeds(all.model, { batch: 1, crossFactors }));
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-4);
  });

  it('controls cross-attention alone without a self factors input', async () => {
    const { model, report, bytes } = rewrite(original, { mode: 'log-additive', roles: { self: false } });
    expect(report.factorsInput).toBeNull();
    expect(model.graph.inputs.map((i) => i.name)).not.toContain(FACTORS_INPUT);
    expect(report.controlledLayers).toEqual([]);
    expect(report.controlledCrossLayers).toEqual([0, 1]);
    const reference = await logitsOf(encodeModel(original), decoderFeeds(original, { batch: 1 }));
    const same = await logitsOf(bytes, decoderFeeds(model, { batch: 1 }));
    expect(maxAbsDiff(reference, same)).toBeLessThanOrEqual(1e-6);
    const moved = await logitsOf(bytes, decoderFeeds(model, { batch: 1, crossFactors: Float32Array.from({ length: T }, (_, k) => (k === 4 ? 0 : 1)) }));
    expect(maxAbsDiff(reference.subarray(0, V), moved.subarray(0, V))).toBeGreaterThan(1e-3);
  });

  it('refuses a choice that leaves nothing to control', () => {
    expect(() => rewrite(original, { mode: 'multiplicative', roles: { self: false, cross: false } })).toThrowError(expect.objectContaining({ code: 'BAD_SETTING' }));
    const decoderOnly = decodeModel(new Uint8Array(readFileSync('fixtures/models/tiny-gpt2/onnx/model.onnx')));
    expect(() => insertAttentionControl(decoderOnly, { mode: 'multiplicative', roles: { self: false } })).toThrowError(/cross-attention was asked for/);
  });

  it('counts a decoder layer with self- and cross-attention once when checking the config', () => {
    expect(() => rewrite(original, { mode: 'multiplicative', expectedLayers: DIMS.nLayer })).not.toThrow();
    try {
      rewrite(original, { mode: 'multiplicative', expectedLayers: 2 * DIMS.nLayer });
      expect.unreachable();
    } catch (e) {
      expect(isAtmanError(e, 'LAYER_COUNT_MISMATCH')).toBe(true);
      expect((e as Error).message).toMatch(/Found 2 self-attention and 2 cross-attention layers.*says 4/);
    }
  });

  it('knows encoder inputs by name, not encoder masks', () => {
    for (const n of ['encoder_hidden_states', 'past_key_values.3.encoder.key', 'past_key_values.0.encoder.value', 'encoder_outputs']) expect(isEncoderInput(n), n).toBe(true);
    for (const n of ['input_ids', 'past_key_values.0.decoder.key', 'past_key_values.0.key', 'encoder_attention_mask', 'inputs_embeds', 'pixel_values']) expect(isEncoderInput(n), n).toBe(false);
  });
});

/** One block without norms or MLP, so float64 arithmetic below can recompute it exactly. */
function buildOneLayer(): { model: Model; W: Weights } {
  const b = new GraphBuilder('one_layer');
  const W = new Weights(b);
  const E = DIMS.nEmbd;
  const h = b.input('hidden', DataType.FLOAT, ['batch_size', 'sequence_length', E]);
  const enc = b.input('encoder_hidden_states', DataType.FLOAT, ['batch_size', 'encoder_sequence_length', E]);
  const seqLen = b.op('Gather', [b.op('Shape', [h]), b.i64([1])], { axis: 0 });
  const r = gpt2CrossBlock(b, W, DIMS, 0, { h, enc, mask: causalMask(b, DIMS.nPositions, seqLen, seqLen) }, false);
  b.rename(r.h, 'out');
  b.output('out', DataType.FLOAT, ['batch_size', 'sequence_length', E]);
  return { model: makeModel(b), W };
}

/** The manipulation of docs/method.md, in float64: phi on key columns, row minimum over all keys of the raw row. */
function referenceOneLayer(W: Weights, x: Float32Array, enc: Float32Array, phiSelf: Float32Array, phiCross: Float32Array, mode: ControlMode): Float64Array {
  const { nEmbd: E, nHead: H } = DIMS;
  const D = E / H;
  const lin = (X: ArrayLike<number>, n: number, name: string, K: number, N: number): Float64Array => {
    const w = W.data(`${name}.weight`);
    const bias = W.data(`${name}.bias`);
    const y = new Float64Array(n * N);
    for (let r = 0; r < n; r++) for (let c = 0; c < N; c++) {
      let acc = bias[c]!;
      for (let k = 0; k < K; k++) acc += X[r * K + k]! * w[k * N + c]!;
      y[r * N + c] = acc;
    }
    return y;
  };
  // q [nq, E]; k, v given by column offset into rows of width `stride`
  const attention = (q: Float64Array, nq: number, kv: Float64Array, nk: number, stride: number, kOff: number, vOff: number, phi: Float32Array, causal: boolean) => {
    const out = new Float64Array(nq * E);
    for (let hd = 0; hd < H; hd++) for (let i = 0; i < nq; i++) {
      const s = Array.from({ length: nk }, (_, k) => {
        let acc = 0;
        for (let dd = 0; dd < D; dd++) acc += q[i * E + hd * D + dd]! * kv[k * stride + kOff + hd * D + dd]!;
        return acc / Math.sqrt(D);
      });
      const m = Math.min(...s);
      const controlled = s.map((x, k) => (mode === 'multiplicative' ? (x - m) * phi[k]! : x + Math.max(Math.log(phi[k]!), -1e4)));
      const visible = controlled.map((x, k) => (causal && k > i ? -Infinity : x));
      const top = Math.max(...visible);
      const e = visible.map((x) => Math.exp(x - top));
      const z = e.reduce((a, c) => a + c, 0);
      for (let dd = 0; dd < D; dd++) {
        let acc = 0;
        for (let k = 0; k < nk; k++) acc += (e[k]! / z) * kv[k * stride + vOff + hd * D + dd]!;
        out[i * E + hd * D + dd] = acc;
      }
    }
    return out;
  };
  const qkv = lin(x, S, 'h.0.attn.c_attn', E, 3 * E);
  const q = Float64Array.from({ length: S * E }, (_, i) => qkv[Math.floor(i / E) * 3 * E + (i % E)]!);
  const selfCtx = attention(q, S, qkv, S, 3 * E, E, 2 * E, phiSelf, true);
  const selfOut = lin(selfCtx, S, 'h.0.attn.c_proj', E, E);
  const h1 = Float64Array.from(selfOut, (y, i) => y + x[i]!);
  const cq = lin(h1, S, 'h.0.crossattention.q_attn', E, E);
  const kv = lin(enc, T, 'h.0.crossattention.c_attn', E, 2 * E);
  const crossCtx = attention(cq, S, kv, T, 2 * E, 0, E, phiCross, false);
  const crossOut = lin(crossCtx, S, 'h.0.crossattention.c_proj', E, E);
  return Float64Array.from(crossOut, (y, i) => y + h1[i]!);
}

describe('one decoder layer against a float64 computation of the formula', () => {
  for (const mode of MODES) {
    it(`${mode}: self factors on token columns, cross factors on encoder columns`, async () => {
      const { model, W } = buildOneLayer();
      const report = insertAttentionControl(model, { mode, expectedLayers: 1 });
      expect(report.sites.map((s) => s.role)).toEqual(['self', 'cross']);
      const E = DIMS.nEmbd;
      const x = prngFor(SEED, 'hidden').normalArray(S * E, 1);
      const enc = encoderStates(1, E);
      const phiSelf = Float32Array.from([1, 0.1, 1, 0, 1, 2]);
      const phiCross = Float32Array.from([0.1, 1, 0, 1.5, 1]);
      const out = (await runGraph(encodeModel(model), {
        hidden: new ort.Tensor('float32', x, [1, S, E]),
        encoder_hidden_states: new ort.Tensor('float32', enc, [1, T, E]),
        [FACTORS_INPUT]: new ort.Tensor('float32', phiSelf, [1, S]),
        [CROSS_FACTORS_INPUT]: new ort.Tensor('float32', phiCross, [1, T]),
      })).out!.data as Float32Array;
      const expected = referenceOneLayer(W, x, enc, phiSelf, phiCross, mode);
      expect(maxAbsDiff(expected, out)).toBeLessThan(1e-5);
      // and the reference is sensitive to what is under test
      const untouched = referenceOneLayer(W, x, enc, phiSelf, new Float32Array(T).fill(1), mode);
      expect(maxAbsDiff(untouched, out)).toBeGreaterThan(1e-3);
    });
  }
});

/** A ViT encoder as transformers exports it: patch Conv, [CLS], positions, bidirectional attention. */
function buildVitEncoder(nLayer: number): Model {
  const b = new GraphBuilder('vit');
  const W = new Weights(b);
  const E = DIMS.nEmbd;
  const H = DIMS.nHead;
  const D = E / H;
  const patch = 4;
  const nPatch = 4;
  const pixels = b.input('pixel_values', DataType.FLOAT, ['batch_size', 3, 8, 8]);
  const conv = b.op('Conv', [pixels, W.get('embeddings.patch_embeddings.projection.weight', [E, 3, patch, patch], 0.2), W.get('embeddings.patch_embeddings.projection.bias', [E], 0.05)], {
    kernel_shape: [patch, patch],
    strides: [patch, patch],
  });
  const patches = b.op('Transpose', [b.op('Reshape', [conv, b.i64([0, E, nPatch])])], { perm: [0, 2, 1] });
  const batch = b.op('Gather', [b.op('Shape', [pixels]), b.i64([0])], { axis: 0 });
  const cls = b.op('Expand', [W.get('embeddings.cls_token', [1, 1, E], 1), b.op('Concat', [batch, b.i64([1, E])], { axis: 0 })]);
  let h = b.op('Add', [b.op('Concat', [cls, patches], { axis: 1 }), W.get('embeddings.position_embeddings', [1, nPatch + 1, E], 0.5)]);
  for (let l = 0; l < nLayer; l++) {
    const p = `encoder.layer.${l}`;
    h = b.within(p, () => {
      const x = layerNorm(b, W, h, `${p}.layernorm_before`, E);
      const q = heads(b, linear(b, W, x, `${p}.attention.attention.query`, E, E, 0.4), H, D);
      const k = heads(b, linear(b, W, x, `${p}.attention.attention.key`, E, E, 0.4), H, D);
      const v = heads(b, linear(b, W, x, `${p}.attention.attention.value`, E, E, 0.2), H, D);
      const h1 = b.op('Add', [h, linear(b, W, attend(b, q, k, v, D, E), `${p}.attention.output.dense`, E, E, 0.15)]);
      const fc = linear(b, W, layerNorm(b, W, h1, `${p}.layernorm_after`, E), `${p}.intermediate.dense`, E, 4 * E, 0.15);
      return b.op('Add', [h1, linear(b, W, b.op('Tanh', [fc]), `${p}.output.dense`, 4 * E, E, 0.1)]);
    });
  }
  b.rename(layerNorm(b, W, h, 'layernorm', E), 'last_hidden_state');
  b.output('last_hidden_state', DataType.FLOAT, ['batch_size', nPatch + 1, E]);
  // old exporters also list the weights as inputs; their "encoder.*" names must not read as an encoder output
  for (const t of b.graph.initializers.filter((i) => i.name.startsWith('encoder.'))) b.graph.inputs.push(makeValueInfo(t.name, DataType.FLOAT, t.dims));
  return makeModel(b);
}

describe('vision encoder (bidirectional, no causal mask, no token inputs)', () => {
  const original = buildVitEncoder(2);
  const N = 5;
  const E = DIMS.nEmbd;
  const pixels = (batch: number) => {
    const one = prngFor(SEED, 'pixels').normalArray(3 * 8 * 8, 1);
    return new ort.Tensor('float32', Float32Array.from({ length: batch * one.length }, (_, i) => one[i % one.length]!), [batch, 3, 8, 8]);
  };
  const feeds = (m: Model, batch: number, factors?: Float32Array) => {
    const f: Record<string, ort.Tensor> = { pixel_values: pixels(batch) };
    if (m.graph.inputs.some((i) => i.name === FACTORS_INPUT)) f[FACTORS_INPUT] = new ort.Tensor('float32', factors ?? new Float32Array(batch * N).fill(1), [batch, N]);
    return f;
  };
  const hidden = async (bytes: Uint8Array, f: Record<string, ort.Tensor>) => (await runGraph(bytes, f)).last_hidden_state!.data as Float32Array;

  for (const mode of MODES) {
    it(`${mode}: self-attention sites only; suppressing a patch moves every position, earlier ones too`, async () => {
      const reference = await hidden(encodeModel(original), feeds(original, 1));
      const { model, report, bytes } = rewrite(original, { mode, expectedLayers: 2 });
      expect(report.sites.map((s) => s.role)).toEqual(['self', 'self']);
      expect(report.crossFactorsInput).toBeNull();
      expect(report.crossLayersPerGraph).toEqual({});
      expect(model.graph.inputs.find((i) => i.name === FACTORS_INPUT)!.dims).toEqual(['batch_size', 'total_sequence_length']);
      const j = 3;
      const factors = new Float32Array(2 * N).fill(1);
      factors[N + j] = 0;
      const out = await hidden(bytes, feeds(model, 2, factors));
      expect(maxAbsDiff(reference, out.subarray(0, N * E))).toBeLessThanOrEqual(1e-6);
      for (let i = 0; i < N; i++) expect(maxAbsDiff(reference.subarray(i * E, (i + 1) * E), out.subarray((N + i) * E, (N + i + 1) * E))).toBeGreaterThan(1e-3);
    });
  }
});
