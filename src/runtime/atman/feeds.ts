// Graph inputs for a batch of passes over one token sequence, or over its
// suffix when the keys and values of a prefix are fed from the cache.
import type { Tensor as OrtTensor } from 'onnxruntime-common';
import { AtmanError } from '../../core/errors';
import { TARGET_IDS_INPUT, TARGET_POSITIONS_INPUT } from '../../graph/append-target-scoring';
import { CROSS_FACTORS_INPUT, FACTORS_INPUT, LAYER_MODES_INPUT } from '../../graph/insert-attention-control';
import { DataType, type ValueInfo } from '../../graph/ir/onnx-ir';
import type { TensorCtor } from '../backends/backend';
import type { ModelConfig } from '../model/model-config';

const PAST = /^past_key_values\.\d+\.(key|value)$|^past_(key|value)(_\d+)?$/;
export const isPastInput = (name: string): boolean => PAST.test(name);

/**
 * A layer's keys and values stacked in one input, [2, batch, heads, length, headDim] (onnxruntime's
 * optimized GPT-2). The engine's own graph takes them split (splitStackedCache); only the unmodified
 * graph, run once as the self-check's reference, is fed one, and always empty.
 */
const STACKED_PAST = /^past_\d+$/;

/** The output carrying a past input's next value (present.N.key for past_key_values.N.key). */
export const presentNameFor = (past: string): string[] => [past.replace(/^past_key_values\./, 'present.'), past.replace(/^past_/, 'present_')];

/** Checks once, at load, that every graph input is one the engine knows how to fill. */
export function checkInputs(inputs: readonly ValueInfo[]): void {
  const known = [
    'input_ids',
    INPUTS_EMBEDS,
    ENCODER_STATES,
    'attention_mask',
    'position_ids',
    'use_cache_branch',
    ...LOGITS_TO_KEEP,
    FACTORS_INPUT,
    CROSS_FACTORS_INPUT,
    LAYER_MODES_INPUT,
    TARGET_POSITIONS_INPUT,
    TARGET_IDS_INPUT,
  ];
  for (const v of inputs) {
    if (known.includes(v.name) || isPastInput(v.name)) continue;
    throw new AtmanError('MODEL_UNSUPPORTED', `The model graph takes an input "${v.name}" that this engine does not know how to fill.`);
  }
  if (!inputs.some((v) => v.name === 'input_ids' || v.name === INPUTS_EMBEDS)) {
    throw new AtmanError('MODEL_UNSUPPORTED', 'The model graph takes neither input_ids nor inputs_embeds; only causal language models (or the decoder of a vision-language model) are supported here.');
  }
}

export const INPUTS_EMBEDS = 'inputs_embeds';
/** Newer exports slice the hidden states to the last k rows before the LM head; 0 keeps them all. */
const LOGITS_TO_KEEP = ['num_logits_to_keep', 'logits_to_keep'];
export const ENCODER_STATES = 'encoder_hidden_states';

/**
 * What a decoder reads besides token ids: the input embeddings of the whole sequence (decoders of
 * vision-language models that take image features in their own sequence), and the encoder output
 * it cross-attends to (encoder-decoder captioners). Both are the same for every pass.
 */
export interface DecoderContext {
  /** [S, dim] row-major over the whole sequence; a pass over a suffix reads its rows */
  embeds?: { data: Float32Array; dim: number };
  /** [1, encoderLength, dim], tiled over the batch */
  encoder?: { data: Float32Array; dims: readonly [number, number, number] };
}

/** A cached key or value tensor: [1, heads, pastLength, headDim] as read back from a pass. */
export interface PastTensor {
  type: 'float32' | 'float16';
  data: Float32Array | Uint16Array;
  dims: readonly number[];
}

export interface FeedSpec {
  /** token ids of the rows this pass computes (the suffix when a past is given) */
  ids: readonly number[];
  batch: number;
  /** row-major [batch, pastLength + ids.length] column factors; null = all ones */
  factors: Float32Array | null;
  /** row-major [batch, encoderLength] factors of the encoder columns (cross-attention); null = all ones */
  crossFactors?: Float32Array | null;
  /** a switchable graph's per-layer mode codes (ControlState.layerModes); absent = every layer off, allowed only without factors */
  layerModes?: Int32Array | null;
  context?: DecoderContext;
  /** row-major [batch, pastLength + ids.length] attention mask, 1 = attend, 0 = masked out; absent = all ones */
  attentionMask?: Uint8Array | null;
  /** rows whose keys and values come from `past` */
  pastLength?: number;
  past?: ReadonlyMap<string, PastTensor>;
  /** rows (relative to `ids`) to score and the target id each should predict */
  targetRows?: readonly number[];
  targetIds?: readonly number[];
}

export function buildFeeds(inputs: readonly ValueInfo[], config: ModelConfig, Tensor: TensorCtor, spec: FeedSpec): Record<string, OrtTensor> {
  const { ids, batch } = spec;
  const S = ids.length;
  const pastLength = spec.pastLength ?? 0;
  const total = pastLength + S;
  const feeds: Record<string, OrtTensor> = {};
  const perRow = (width: number, value: (i: number) => bigint, int32: boolean): OrtTensor => {
    const a = new BigInt64Array(batch * width);
    for (let b = 0; b < batch; b++) for (let i = 0; i < width; i++) a[b * width + i] = value(i);
    return int32 ? new Tensor('int32', Int32Array.from(a, Number), [batch, width]) : new Tensor('int64', a, [batch, width]);
  };
  const targets = (xs: readonly number[] | undefined, fallback: number[]) => {
    const v = xs ?? fallback;
    return new Tensor('int64', BigInt64Array.from(v, BigInt), [v.length]);
  };
  for (const v of inputs) {
    const int32 = v.elemType === DataType.INT32;
    if (v.name === 'input_ids') feeds[v.name] = perRow(S, (i) => BigInt(ids[i]!), int32);
    else if (v.name === 'attention_mask') feeds[v.name] = spec.attentionMask ? maskFeed(spec.attentionMask, batch, total, int32, Tensor) : perRow(total, () => 1n, int32);
    else if (v.name === 'position_ids') feeds[v.name] = perRow(S, (i) => BigInt(pastLength + i), int32);
    else if (v.name === 'use_cache_branch') feeds[v.name] = new Tensor('bool', [pastLength > 0], [1]);
    else if (LOGITS_TO_KEEP.includes(v.name)) feeds[v.name] = new Tensor('int64', new BigInt64Array(1), v.dims?.length ? [1] : []);
    else if (v.name === FACTORS_INPUT) feeds[v.name] = new Tensor('float32', spec.factors ?? new Float32Array(batch * total).fill(1), [batch, total]);
    else if (v.name === LAYER_MODES_INPUT) feeds[v.name] = layerModesFeed(v, spec, Tensor);
    else if (v.name === INPUTS_EMBEDS) feeds[v.name] = embedsFeed(spec, pastLength, Tensor);
    else if (v.name === ENCODER_STATES) feeds[v.name] = encoderFeed(spec, Tensor);
    else if (v.name === CROSS_FACTORS_INPUT) {
      const E = encoderOf(spec).dims[1];
      feeds[v.name] = new Tensor('float32', spec.crossFactors ?? new Float32Array(batch * E).fill(1), [batch, E]);
    }
    // Without a choice, every row is scored (self-check, full logits): the ids are placeholders.
    else if (v.name === TARGET_POSITIONS_INPUT) feeds[v.name] = targets(spec.targetRows, Array.from({ length: S }, (_, i) => i));
    else if (v.name === TARGET_IDS_INPUT) feeds[v.name] = targets(spec.targetIds, new Array(spec.targetRows?.length ?? S).fill(0));
    else if (isPastInput(v.name)) feeds[v.name] = pastFeed(v, config, Tensor, batch, pastLength, spec.past?.get(v.name));
    else if (STACKED_PAST.test(v.name)) feeds[v.name] = emptyStackedPast(v, config, Tensor, batch, pastLength);
  }
  return feeds;
}

function layerModesFeed(v: ValueInfo, spec: FeedSpec, Tensor: TensorCtor): OrtTensor {
  const L = v.dims?.[0];
  if (spec.layerModes) return new Tensor('int32', spec.layerModes, [spec.layerModes.length]);
  // Factors without the modes would silently run uncontrolled: a caller's mistake, not a user's.
  if (spec.factors || spec.crossFactors) throw new Error(`${LAYER_MODES_INPUT} must be fed with the factors of a switchable graph`);
  if (typeof L !== 'number') throw new Error(`${LAYER_MODES_INPUT} has no fixed length`);
  return new Tensor('int32', new Int32Array(L), [L]);
}

function embedsFeed(spec: FeedSpec, pastLength: number, Tensor: TensorCtor): OrtTensor {
  const e = spec.context?.embeds;
  if (!e) throw new AtmanError('MODEL_UNSUPPORTED', 'This decoder takes input embeddings, and none were given (an image model needs its image and embedding files).');
  const S = spec.ids.length;
  const rows = e.data.subarray(pastLength * e.dim, (pastLength + S) * e.dim);
  if (rows.length !== S * e.dim) throw new RangeError(`embeddings hold ${e.data.length / e.dim} rows, ${pastLength + S} asked for`);
  return new Tensor('float32', tile(rows, spec.batch), [spec.batch, S, e.dim]);
}

function encoderOf(spec: FeedSpec): NonNullable<DecoderContext['encoder']> {
  const enc = spec.context?.encoder;
  if (!enc) throw new AtmanError('MODEL_UNSUPPORTED', 'This decoder cross-attends to an encoder output, and none was given (an encoder-decoder model needs its image).');
  return enc;
}

function encoderFeed(spec: FeedSpec, Tensor: TensorCtor): OrtTensor {
  const enc = encoderOf(spec);
  return new Tensor('float32', tile(enc.data, spec.batch), [spec.batch, enc.dims[1], enc.dims[2]]);
}

function tile(one: Float32Array, batch: number): Float32Array {
  if (batch === 1) return one;
  const out = new Float32Array(one.length * batch);
  for (let b = 0; b < batch; b++) out.set(one, b * one.length);
  return out;
}

function maskFeed(mask: Uint8Array, batch: number, total: number, int32: boolean, Tensor: TensorCtor): OrtTensor {
  if (mask.length !== batch * total) throw new RangeError(`attention mask holds ${mask.length} values, expected ${batch}x${total}`);
  return int32 ? new Tensor('int32', Int32Array.from(mask), [batch, total]) : new Tensor('int64', BigInt64Array.from(mask, (m) => BigInt(m)), [batch, total]);
}

function pastFeed(v: ValueInfo, config: ModelConfig, Tensor: TensorCtor, batch: number, pastLength: number, cached: PastTensor | undefined): OrtTensor {
  const dims = v.dims ?? [];
  const heads = typeof dims[1] === 'number' ? dims[1] : config.numKvHeads;
  const headDim = typeof dims[3] === 'number' ? dims[3] : config.headDim;
  const type = v.elemType === DataType.FLOAT16 ? 'float16' : 'float32';
  if (pastLength === 0 || !cached) {
    return new Tensor(type, type === 'float16' ? new Uint16Array(0) : new Float32Array(0), [batch, heads, 0, headDim]);
  }
  return new Tensor(cached.type, sliceAndTile(cached, pastLength, batch), [batch, heads, pastLength, headDim]);
}

function emptyStackedPast(v: ValueInfo, config: ModelConfig, Tensor: TensorCtor, batch: number, pastLength: number): OrtTensor {
  if (pastLength > 0) throw new Error(`${v.name} holds keys and values stacked; a cached prefix is fed only to graphs that take them split`);
  const dims = v.dims ?? [];
  const heads = typeof dims[2] === 'number' ? dims[2] : config.numKvHeads;
  const headDim = typeof dims[4] === 'number' ? dims[4] : config.headDim;
  const type = v.elemType === DataType.FLOAT16 ? 'float16' : 'float32';
  return new Tensor(type, type === 'float16' ? new Uint16Array(0) : new Float32Array(0), [2, batch, heads, 0, headDim]);
}

/** The first `length` rows of a [1, H, L, D] cache, repeated for every batch item. */
export function sliceAndTile(t: PastTensor, length: number, batch: number): Float32Array | Uint16Array {
  const [, H, L, D] = t.dims as [number, number, number, number];
  if (length > L) throw new RangeError(`cache holds ${L} positions, ${length} asked for`);
  const out = t.type === 'float16' ? new Uint16Array(batch * H * length * D) : new Float32Array(batch * H * length * D);
  const one = H * length * D;
  for (let h = 0; h < H; h++) out.set(t.data.subarray(h * L * D, h * L * D + length * D), h * length * D);
  for (let b = 1; b < batch; b++) out.copyWithin(b * one, 0, one);
  return out;
}

/** Bytes the feeds hold, by element type, for the run report's I/O peak. */
export const feedBytes = (feeds: Record<string, { type: string; data: unknown }>): number =>
  Object.values(feeds).reduce((a, f) => a + (f.data as ArrayLike<unknown>).length * bytesPerElement(f.type), 0);

const bytesPerElement = (type: string): number =>
  type === 'int64' || type === 'uint64' || type === 'float64' ? 8 : type === 'bool' || type === 'uint8' || type === 'int8' ? 1 : type === 'float16' ? 2 : 4;
