// decomposeFusedAttention on whole graphs written by other tools and on the project's fused fixture.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type ControlProbe, type Feeds, maxAbsDiff, randomTensor, runModel } from '../../scripts/fixtures/fused-attention';
import { Prng } from '../../scripts/fixtures/prng';
import { checkDecomposition } from '../../scripts/fixtures/fused-attention-check';
import { decomposeFusedAttention } from './fused/decompose-fused-attention';
import { FACTORS_INPUT, insertAttentionControl } from './insert-attention-control';
import { decodeModel, encodeModel } from './ir/onnx-ir';

const THIRD = '../shared/fixtures/third-party';
const GPT2 = `${THIRD}/ortgenai-tiny-random-gpt2-fp32/past.onnx`;
const QWEN = `${THIRD}/ortgenai-tiny-qwen-gqa-fp16/decoder.onnx`;
const LLAMA_GQA = 'fixtures/models/tiny-llama-gqa/onnx/model.onnx';
const TINY_GQA = '../shared/fixtures/torch-export/tiny_gqa.onnx';

const load = (f: string) => decodeModel(new Uint8Array(readFileSync(f)));

interface Step {
  batch: number;
  seq: number;
  past: number;
}
const STEPS: Step[] = [
  { batch: 1, seq: 5, past: 0 },
  { batch: 2, seq: 5, past: 0 },
  { batch: 1, seq: 3, past: 4 },
  { batch: 2, seq: 1, past: 4 },
];

const causalProbe = (s: Step): ControlProbe => ({
  keys: s.past + s.seq,
  batch: s.batch,
  seq: s.seq,
  position: (_b, q) => s.past + q,
  sees: (_b, q, j) => j <= s.past + q,
});

function tokenFeeds(
  s: Step,
  o: { ids: 'int32' | 'int64'; mask: 'int32' | 'int64'; vocab: number; positions?: 'int32'; pasts: string[]; pastDims: (s: Step) => number[]; fp16?: boolean },
): Feeds {
  const rng = new Prng(11 + s.batch * 7 + s.past);
  const n = s.batch * s.seq;
  const total = s.past + s.seq;
  const ints = (type: 'int32' | 'int64', values: number[], dims: number[]) =>
    type === 'int32' ? new ort.Tensor('int32', Int32Array.from(values), dims) : new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
  const feeds: Feeds = {
    input_ids: ints(o.ids, Array.from({ length: n }, () => rng.int(o.vocab)), [s.batch, s.seq]),
    attention_mask: ints(o.mask, Array(s.batch * total).fill(1), [s.batch, total]),
  };
  if (o.positions) feeds.position_ids = ints(o.positions, Array.from({ length: n }, (_, i) => s.past + (i % s.seq)), [s.batch, s.seq]);
  for (const p of o.pasts) feeds[p] = randomTensor(rng, o.pastDims(s), o.fp16);
  return feeds;
}

describe('decomposeFusedAttention on whole models', () => {
  for (const s of STEPS) {
    const at = `batch ${s.batch}, ${s.seq} new rows, past ${s.past}`;

    it(`onnxruntime-genai tiny GPT-2 (5 contrib Attention nodes, opset 11), ${at}: same logits and presents; control works`, async () => {
      const feeds = tokenFeeds(s, {
        ids: 'int32',
        mask: 'int32',
        positions: 'int32',
        vocab: 1000,
        pasts: [0, 1, 2, 3, 4].map((i) => `past_${i}`),
        pastDims: (x) => [2, x.batch, 4, x.past, 8],
      });
      await checkDecomposition(load(GPT2), feeds, causalProbe(s), 1e-5, Math.max(1, s.past), { output: 'logits', sites: 5 });
    });

    it(`tiny-llama-gqa fixture (2 GroupQueryAttention), ${at}: same logits and presents; control works`, async () => {
      const feeds = tokenFeeds(s, {
        ids: 'int64',
        mask: 'int64',
        vocab: 405,
        pasts: [0, 1].flatMap((i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]),
        pastDims: (x) => [x.batch, 2, x.past, 8],
      });
      await checkDecomposition(load(LLAMA_GQA), feeds, causalProbe(s), 1e-5, Math.max(1, s.past), { output: 'logits', sites: 2 });
    });

    it(`torch-export tiny_gqa (one GroupQueryAttention), ${at}: same outputs; control works`, async () => {
      const rng = new Prng(5 + s.batch + s.past);
      const feeds: Feeds = {
        query: randomTensor(rng, [s.batch, s.seq, 32]),
        key: randomTensor(rng, [s.batch, s.seq, 16]),
        value: randomTensor(rng, [s.batch, s.seq, 16]),
        past_key: randomTensor(rng, [s.batch, 2, s.past, 8]),
        past_value: randomTensor(rng, [s.batch, 2, s.past, 8]),
        seqlens_k: new ort.Tensor('int32', new Int32Array(s.batch).fill(s.past + s.seq - 1), [s.batch]),
        total_sequence_length: new ort.Tensor('int32', Int32Array.of(s.past + s.seq), []),
      };
      await checkDecomposition(load(TINY_GQA), feeds, causalProbe(s), 1e-5, Math.max(1, s.past));
    });

    it(`onnxruntime-genai tiny Qwen (float16 GroupQueryAttention), ${at}: logits within one float16 step, layer 0 presents exact; control identity`, async () => {
      const feeds = tokenFeeds(s, {
        ids: 'int32',
        mask: 'int64',
        vocab: 1000,
        pasts: [0, 1].flatMap((i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]),
        pastDims: (x) => [x.batch, 2, x.past, 16],
        fp16: true,
      });
      const fused = load(QWEN);
      const m = decodeModel(encodeModel(fused));
      const report = decomposeFusedAttention(m);
      expect(report.nodes.map((n) => n.variant.includes('float16 computed in float32'))).toEqual([true, true]);
      const [a, b] = [await runModel(fused, feeds), await runModel(m, feeds)];
      // Layer 0's presents come out bit-exact; its float16 output may differ by one float16 step
      // (float32 sums in another order before the rounding), which layer 1 and the logits carry on.
      for (const k of Object.keys(a)) expect(maxAbsDiff(a[k]!, b[k]!), k).toBeLessThanOrEqual(k.startsWith('present.0') ? 0 : 5e-5);
      const controlled = decodeModel(encodeModel(m));
      const control = insertAttentionControl(controlled, { mode: 'multiplicative', expectedLayers: 2 });
      expect(control.sites.map((x) => [x.kind, x.role])).toEqual([['decomposed', 'self'], ['decomposed', 'self']]);
      const total = s.past + s.seq;
      const ones = await runModel(controlled, { ...feeds, [FACTORS_INPUT]: new ort.Tensor('float32', new Float32Array(s.batch * total).fill(1), [s.batch, total]) });
      for (const k of Object.keys(b)) expect(maxAbsDiff(ones[k]!, b[k]!), `${k} with all-ones factors`).toBe(0);
    });
  }
});
