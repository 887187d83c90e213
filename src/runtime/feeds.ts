// Graph inputs for a batch of passes over one token sequence, or over its
// suffix when the keys and values of a prefix are fed from the cache.
import type { Tensor as OrtTensor } from 'onnxruntime-common';
import { AtmanError } from '../core/errors';
import { TARGET_IDS_INPUT, TARGET_POSITIONS_INPUT } from '../graph/append-target-scoring';
import { FACTORS_INPUT } from '../graph/insert-attention-control';
import { DataType, type ValueInfo } from '../graph/onnx-ir';
import type { TensorCtor } from './backend';
import type { ModelConfig } from './model-config';

const PAST = /^past_key_values\.\d+\.(key|value)$|^past_(key|value)(_\d+)?$/;
export const isPastInput = (name: string): boolean => PAST.test(name);

/** The output carrying a past input's next value (present.N.key for past_key_values.N.key). */
export const presentNameFor = (past: string): string[] => [past.replace(/^past_key_values\./, 'present.'), past.replace(/^past_/, 'present_')];

/** Checks once, at load, that every graph input is one the engine knows how to fill. */
export function checkInputs(inputs: readonly ValueInfo[]): void {
  const known = ['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch', FACTORS_INPUT, TARGET_POSITIONS_INPUT, TARGET_IDS_INPUT];
  for (const v of inputs) {
    if (known.includes(v.name) || isPastInput(v.name)) continue;
    throw new AtmanError('MODEL_UNSUPPORTED', `The model graph takes an input "${v.name}" that this engine does not know how to fill.`);
  }
  if (!inputs.some((v) => v.name === 'input_ids')) {
    throw new AtmanError('MODEL_UNSUPPORTED', 'The model graph has no input_ids input; only causal language models that take token ids are supported here.');
  }
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
    else if (v.name === 'attention_mask') feeds[v.name] = perRow(total, () => 1n, int32);
    else if (v.name === 'position_ids') feeds[v.name] = perRow(S, (i) => BigInt(pastLength + i), int32);
    else if (v.name === 'use_cache_branch') feeds[v.name] = new Tensor('bool', [pastLength > 0], [1]);
    else if (v.name === FACTORS_INPUT) feeds[v.name] = new Tensor('float32', spec.factors ?? new Float32Array(batch * total).fill(1), [batch, total]);
    // Without a choice, every row is scored (self-check, full logits): the ids are placeholders.
    else if (v.name === TARGET_POSITIONS_INPUT) feeds[v.name] = targets(spec.targetRows, Array.from({ length: S }, (_, i) => i));
    else if (v.name === TARGET_IDS_INPUT) feeds[v.name] = targets(spec.targetIds, new Array(spec.targetRows?.length ?? S).fill(0));
    else if (isPastInput(v.name)) feeds[v.name] = pastFeed(v, config, Tensor, batch, pastLength, spec.past?.get(v.name));
  }
  return feeds;
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
