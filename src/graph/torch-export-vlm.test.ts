// The attention control on vision-language parts written by PyTorch's own ONNX exporters from the
// real transformers classes (fixtures/torch-export-vlm, made by scripts/torch-export/export_vlm.py):
// a GPT-2 decoder with cross-attention (eager and SDPA, torch.export-based exporter), a Llama
// decoder over inputs_embeds (TorchScript and torch.export exporters) and a ViT encoder.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { ControlMode } from '../core/types';
import { CROSS_FACTORS_INPUT, FACTORS_INPUT, insertAttentionControl } from './insert-attention-control';
import { decodeModel, encodeModel } from './ir/onnx-ir';

const DIR = 'fixtures/torch-export-vlm';
const MODES: ControlMode[] = ['multiplicative', 'log-additive'];

interface Reference {
  torch: string;
  transformers: string;
  models: Record<string, { inputs: Record<string, { dims: number[]; data: number[] }>; output: { name: string; dims: number[]; data: number[] } }>;
}
const reference = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as Reference;

const INT_INPUTS = new Set(['input_ids', 'attention_mask', 'position_ids']);

function feedsOf(name: string): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [input, t] of Object.entries(reference.models[name]!.inputs)) {
    feeds[input] = INT_INPUTS.has(input) ? new ort.Tensor('int64', BigInt64Array.from(t.data, (x) => BigInt(x)), t.dims) : new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
  }
  return feeds;
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, output: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    return (await s.run(feeds))[output]!.data as Float32Array;
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
const rowDiffs = (a: Float32Array, b: Float32Array, width: number): number[] =>
  Array.from({ length: a.length / width }, (_, r) => maxAbsDiff(a.subarray(r * width, (r + 1) * width), b.subarray(r * width, (r + 1) * width)));
const factors = (n: number, zeroAt: number | null = null) => Float32Array.from({ length: n }, (_, k) => (k === zeroAt ? 0 : 1));

const CASES = [
  { name: 'gpt2_cross_eager', self: 2, cross: 2, causal: true },
  { name: 'gpt2_cross_sdpa', self: 2, cross: 2, causal: true },
  { name: 'llama_embeds_eager', self: 2, cross: 0, causal: true },
  { name: 'llama_embeds_sdpa', self: 2, cross: 0, causal: true },
  { name: 'vit_encoder', self: 2, cross: 0, causal: false },
] as const;

describe(`graphs exported by torch ${reference.torch} from transformers ${reference.transformers}`, () => {
  for (const c of CASES) {
    describe(c.name, () => {
      const bytes = new Uint8Array(readFileSync(join(DIR, `${c.name}.onnx`)));
      const ref = reference.models[c.name]!;
      const feeds = feedsOf(c.name);
      const out = ref.output;
      const S = out.dims[1]!;
      const width = out.dims[2]!;
      const E = ref.inputs.encoder_hidden_states?.dims[1] ?? 0;

      it('the unmodified graph reproduces torch', async () => {
        expect(maxAbsDiff(await run(bytes, feeds, out.name), out.data)).toBeLessThan(1e-4);
      });

      for (const mode of MODES) {
        it(`${mode}: finds every site with its role, identity at factor 1, and suppression acts where it must`, async () => {
          const model = decodeModel(bytes);
          const report = insertAttentionControl(model, { mode, expectedLayers: c.self });
          expect(report.sites.filter((s) => s.role === 'self').length).toBe(c.self);
          expect(report.sites.filter((s) => s.role === 'cross').length).toBe(c.cross);
          if (c.cross) expect(report.sites.filter((s) => s.role === 'cross').every((s) => s.keysFrom === 'encoder_hidden_states')).toBe(true);
          const rewritten = encodeModel(model);
          const base = await run(bytes, feeds, out.name);
          const withFactors = (self: Float32Array, cross: Float32Array | null) => ({
            ...feeds,
            [FACTORS_INPUT]: new ort.Tensor('float32', self, [1, S]),
            ...(cross ? { [CROSS_FACTORS_INPUT]: new ort.Tensor('float32', cross, [1, E]) } : {}),
          });
          const identity = await run(rewritten, withFactors(factors(S), c.cross ? factors(E) : null), out.name);
          expect(maxAbsDiff(identity, base)).toBeLessThan(1e-5);

          const j = 2;
          const suppressed = rowDiffs(await run(rewritten, withFactors(factors(S, j), c.cross ? factors(E) : null), out.name), base, width);
          // Freshly initialised weights give nearly uniform attention, where lowering a key to the row
          // minimum moves little: an effect is one well above the identity's rounding.
          const effect = Math.max(100 * maxAbsDiff(identity, base), 1e-6);
          if (c.causal) {
            expect(Math.max(...suppressed.slice(0, j))).toBeLessThan(1e-5);
            expect(Math.min(...suppressed.slice(j))).toBeGreaterThan(effect);
          } else {
            expect(Math.min(...suppressed)).toBeGreaterThan(effect);
          }
          if (c.cross) {
            // An encoder column is read by every decoder row.
            const cross = rowDiffs(await run(rewritten, withFactors(factors(S), factors(E, 3)), out.name), base, width);
            expect(Math.min(...cross)).toBeGreaterThan(effect);
          }
        });
      }
    });
  }
});
