// The position tables the graphs of real exports index by position (see position-table.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeModel } from './ir/onnx-ir';
import { findPositionTable } from './position-table';

const graph = (path: string) => decodeModel(new Uint8Array(readFileSync(path))).graph;

describe('findPositionTable', () => {
  it.each([
    ['fixtures/models/tiny-gpt2/onnx/model.onnx', { rows: 128, tensor: 'transformer.wpe.weight' }],
    ['fixtures/models/tiny-gpt2/onnx/model_q4.onnx', { rows: 128, tensor: 'transformer.wpe.weight' }],
    ['fixtures/models/tiny-qwen2-builder/onnx/model.onnx', { rows: 128, tensor: 'cos_cache' }],
    ['fixtures/models/ortgenai-tiny-random-gpt2/onnx/model.onnx', { rows: 512, tensor: 'transformer.wpe.weight' }],
    ['fixtures/models/tiny-vit-gpt2/onnx/decoder_model_merged.onnx', { rows: expect.any(Number), tensor: expect.stringContaining('wpe') }],
  ])('%s', (path, want) => {
    expect(findPositionTable(graph(path))).toEqual(want);
  });

  it('is null where rotary positions are computed at run time (Llama exports)', () => {
    expect(findPositionTable(graph('fixtures/models/tiny-llama/onnx/model.onnx'))).toBeNull();
  });
});
