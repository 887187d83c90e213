// One graph with the mode and the layers as inputs computes what the per-mode graphs compute.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { isAtmanError } from '../core/errors';
import type { ControlMode } from '../core/types';
import { FACTORS_INPUT, LAYER_MODES_INPUT, insertAttentionControl, layerModes, reportFor } from './insert-attention-control';
import { type Model, decodeModel, encodeModel } from './ir/onnx-ir';

const TORCH = '../shared/fixtures/torch-export';
const OWN = 'fixtures/models';

interface Case {
  name: string;
  file: string;
  kvHeads?: number;
  headDim?: number;
  fused?: boolean;
}

const CASES: Case[] = [
  { name: 'torch tiny_gpt2', file: `${TORCH}/tiny_gpt2.onnx` },
  { name: 'torch tiny_llama_kv', file: `${TORCH}/tiny_llama_kv.onnx`, kvHeads: 4, headDim: 8 },
  { name: 'torch tiny_merged (If branches)', file: `${TORCH}/tiny_merged.onnx` },
  { name: 'tiny-gpt2-kv', file: `${OWN}/tiny-gpt2-kv/onnx/model.onnx`, kvHeads: 2, headDim: 16 },
  { name: 'tiny-gpt2 q4', file: `${OWN}/tiny-gpt2/onnx/model_q4.onnx` },
  { name: 'tiny-llama', file: `${OWN}/tiny-llama/onnx/model.onnx`, kvHeads: 2, headDim: 8 },
  { name: 'tiny-llama-sdpa', file: `${OWN}/tiny-llama-sdpa/onnx/model.onnx` },
  { name: 'tiny-llama-gqa (fused, kept)', file: `${OWN}/tiny-llama-gqa/onnx/model.onnx`, kvHeads: 2, headDim: 8, fused: true },
];

const S = 6;
const B = 2;
const IDS = [3, 17, 42, 5, 17, 9];
// Two batch items with different factors: suppression, a zero, an amplification and ones.
const FACTORS = Float32Array.from([1, 0.1, 1, 0, 1, 1, 2, 1, 0.3, 1, 1, 0.1]);

function feeds(m: Model, c: Case, modes?: Int32Array): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  const rows = (f: (i: number) => bigint) => new ort.Tensor('int64', BigInt64Array.from({ length: B * S }, (_, j) => f(j % S)), [B, S]);
  for (const v of m.graph.inputs) {
    if (v.name === 'input_ids') out[v.name] = rows((i) => BigInt(IDS[i]!));
    else if (v.name === 'attention_mask') out[v.name] = rows(() => 1n);
    else if (v.name === 'position_ids') out[v.name] = rows((i) => BigInt(i));
    else if (v.name === 'use_cache_branch') out[v.name] = new ort.Tensor('bool', [false], [1]);
    else if (v.name.startsWith('past_key_values')) out[v.name] = new ort.Tensor('float32', new Float32Array(0), [B, c.kvHeads!, 0, c.headDim!]);
    else if (v.name === FACTORS_INPUT) out[v.name] = new ort.Tensor('float32', FACTORS, [B, S]);
    else if (v.name === LAYER_MODES_INPUT) out[v.name] = new ort.Tensor('int32', modes!, [modes!.length]);
    else throw new Error(`unexpected input ${v.name}`);
  }
  return out;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((d, x, i) => Math.max(d, Math.abs(x - b[i]!)), 0);

describe('switchable control: mode and layers as inputs of one graph', () => {
  for (const c of CASES) {
    it(`${c.name}: every mode and layer subset equals its static graph; all off equals the unmodified model`, async () => {
      const bytes = new Uint8Array(readFileSync(c.file));
      const m = decodeModel(bytes);
      const graphReport = insertAttentionControl(m, { mode: 'log-additive', switchable: true });
      expect(graphReport.switchable!.modes).toEqual(c.fused ? ['log-additive'] : ['multiplicative', 'log-additive']);
      const session = await ort.InferenceSession.create(encodeModel(m));
      const original = await ort.InferenceSession.create(bytes);
      try {
        const plain = decodeModel(bytes);
        const unmodified = (await original.run(feeds(plain, c), ['logits'])).logits!.data as Float32Array;
        const off = (await session.run(feeds(m, c, new Int32Array(graphReport.switchable!.layers)), ['logits'])).logits!.data as Float32Array;
        expect(maxAbsDiff(off, unmodified)).toBeLessThanOrEqual(1e-6);

        const modes: ControlMode[] = c.fused ? ['log-additive'] : ['multiplicative', 'log-additive'];
        for (const mode of modes) {
          for (const layers of [null, [1], [0]]) {
            const fixed = decodeModel(bytes);
            const staticReport = insertAttentionControl(fixed, { mode, layers });
            const expected = (await runOnce(encodeModel(fixed), feeds(fixed, c))) as Float32Array;
            const got = (await session.run(feeds(m, c, layerModes(graphReport, mode, layers)), ['logits'])).logits!.data as Float32Array;
            const d = maxAbsDiff(got, expected);
            expect(d, `${mode} layers ${JSON.stringify(layers)}`).toBeLessThanOrEqual(1e-6);
            // and the suppression did something
            expect(maxAbsDiff(got, unmodified)).toBeGreaterThan(1e-4);
            const described = reportFor(graphReport, mode, layers);
            expect(described.controlledLayers).toEqual(staticReport.controlledLayers);
            expect(described.sites.map((s) => s.controlled)).toEqual(staticReport.sites.map((s) => s.controlled));
          }
        }
      } finally {
        await session.release();
        await original.release();
      }
    });
  }

  it('refuses a layer that does not exist and multiplicative mode over kept fused attention, in words', () => {
    const m = decodeModel(new Uint8Array(readFileSync(`${OWN}/tiny-llama-gqa/onnx/model.onnx`)));
    const report = insertAttentionControl(m, { mode: 'log-additive', switchable: true });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isAtmanError(e) ? e.code : 'other';
      }
      return null;
    };
    expect(code(() => layerModes(report, 'log-additive', [2]))).toBe('BAD_SETTING');
    expect(code(() => layerModes(report, 'multiplicative', null))).toBe('FUSED_ATTENTION_MULTIPLICATIVE');
    expect(Array.from(layerModes(report, 'log-additive', [1]))).toEqual([0, 2]);
  });
});

async function runOnce(bytes: Uint8Array, f: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    return (await s.run(f, ['logits'])).logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}
