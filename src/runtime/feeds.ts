// Graph inputs for a batch of passes over one token sequence.
import type { Tensor as OrtTensor } from 'onnxruntime-common';
import { AtmanError } from '../core/errors';
import { FACTORS_INPUT } from '../graph/insert-attention-control';
import { DataType, type ValueInfo } from '../graph/onnx-ir';
import type { TensorCtor } from './backend';
import type { ModelConfig } from './model-config';

const PAST = /^past_key_values\.\d+\.(key|value)$|^past_(key|value)(_\d+)?$/;

/** Checks once, at load, that every graph input is one the engine knows how to fill. */
export function checkInputs(inputs: readonly ValueInfo[]): void {
  for (const v of inputs) {
    if (['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch', FACTORS_INPUT].includes(v.name)) continue;
    if (PAST.test(v.name)) continue;
    throw new AtmanError('MODEL_UNSUPPORTED', `The model graph takes an input "${v.name}" that this engine does not know how to fill.`);
  }
  if (!inputs.some((v) => v.name === 'input_ids')) {
    throw new AtmanError('MODEL_UNSUPPORTED', 'The model graph has no input_ids input; only causal language models that take token ids are supported here.');
  }
}

export function buildFeeds(
  inputs: readonly ValueInfo[],
  config: ModelConfig,
  Tensor: TensorCtor,
  ids: readonly number[],
  batch: number,
  factors: Float32Array | null,
): Record<string, OrtTensor> {
  const S = ids.length;
  const feeds: Record<string, OrtTensor> = {};
  const repeat = (row: (i: number) => bigint): BigInt64Array => {
    const a = new BigInt64Array(batch * S);
    for (let b = 0; b < batch; b++) for (let i = 0; i < S; i++) a[b * S + i] = row(i);
    return a;
  };
  for (const v of inputs) {
    const intType = v.elemType === DataType.INT32 ? 'int32' : 'int64';
    const ints = (row: (i: number) => bigint): OrtTensor => {
      const data = repeat(row);
      return intType === 'int32'
        ? new Tensor('int32', Int32Array.from(data, Number), [batch, S])
        : new Tensor('int64', data, [batch, S]);
    };
    if (v.name === 'input_ids') feeds[v.name] = ints((i) => BigInt(ids[i]!));
    else if (v.name === 'attention_mask') feeds[v.name] = ints(() => 1n);
    else if (v.name === 'position_ids') feeds[v.name] = ints((i) => BigInt(i));
    else if (v.name === 'use_cache_branch') feeds[v.name] = new Tensor('bool', [false], [1]);
    else if (v.name === FACTORS_INPUT) {
      feeds[v.name] = new Tensor('float32', factors ?? new Float32Array(batch * S).fill(1), [batch, S]);
    } else if (PAST.test(v.name)) {
      const dims = v.dims ?? [];
      const heads = typeof dims[1] === 'number' ? dims[1] : config.numKvHeads;
      const headDim = typeof dims[3] === 'number' ? dims[3] : config.headDim;
      const type = v.elemType === DataType.FLOAT16 ? 'float16' : 'float32';
      const empty = type === 'float16' ? new Uint16Array(0) : new Float32Array(0);
      feeds[v.name] = new Tensor(type, empty, [batch, heads, 0, headDim]);
    }
  }
  return feeds;
}
