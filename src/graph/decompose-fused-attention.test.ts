import { describe, expect, it } from 'vitest';
import { checkDecomposition } from '../../scripts/fixtures/fused-attention-check';
import {
  type AttentionSpec,
  type ControlProbe,
  type GqaSpec,
  type MhaSpec,
  attentionFeeds,
  attentionModel,
  gqaFeeds,
  gqaModel,
  maxAbsDiff,
  mhaFeeds,
  mhaModel,
  runModel,
} from '../../scripts/fixtures/fused-attention';
import * as ort from 'onnxruntime-node';
import { isAtmanError } from '../core/errors';
import { decomposeFusedAttention } from './fused/decompose-fused-attention';
import { GraphBuilder, makeModel, mergedIf } from '../../scripts/fixtures/builder';
import { CROSS_FACTORS_INPUT, FACTORS_INPUT, insertAttentionControl } from './insert-attention-control';
import { DataType, type Model, decodeModel, encodeModel, getAttr } from './ir/onnx-ir';
import { makeAttribute, makeFloatAttribute } from './ir/onnx-build';

const clone = (m: Model): Model => decodeModel(encodeModel(m));

function gqaProbe(s: GqaSpec): ControlProbe {
  const totals = s.totals ?? Array.from({ length: s.batch }, () => s.past + s.seq);
  const keys = Math.max(Math.max(...totals, s.seq), s.past);
  const first = Math.max(...totals, s.seq) === s.seq;
  const pastOf = (b: number) => (first ? 0 : totals[b]! - s.seq);
  return {
    keys,
    batch: s.batch,
    seq: s.seq,
    position: (b, q) => pastOf(b) + q,
    sees: (b, q, j) => {
      const end = Math.min(pastOf(b) + q + 1, totals[b]!);
      return j < end && (!s.window || j >= end - s.window);
    },
  };
}

const H = { heads: 4, kvHeads: 2, headSize: 16 };
const GQA: Array<[string, GqaSpec, number?]> = [
  ['prompt, batch 1', { ...H, batch: 1, seq: 5, past: 0 }],
  ['prompt, batch 2', { ...H, batch: 2, seq: 5, past: 0 }],
  ['prompt, batch 2, right-padded item (seqlens_k 2 of 4)', { ...H, batch: 2, seq: 5, past: 0, totals: [5, 3] }],
  ['several new rows over a past, batch 1', { ...H, batch: 1, seq: 4, past: 3 }],
  ['one new row over a past, batch 2', { ...H, batch: 2, seq: 1, past: 3 }, 1],
  ['one new row over a past, batch 2, ragged seqlens_k', { ...H, batch: 2, seq: 1, past: 3, totals: [4, 2] }, 1],
  ['packed QKV, prompt, batch 2', { ...H, batch: 2, seq: 5, past: 0, packed: true }],
  ['packed QKV over a past, batch 2', { ...H, batch: 2, seq: 1, past: 4, packed: true }, 2],
  ['rotary (half-split), past, batch 1', { ...H, batch: 1, seq: 4, past: 3, rotary: 'half' }],
  ['rotary (interleaved), past, batch 1', { ...H, batch: 1, seq: 4, past: 3, rotary: 'interleaved' }],
  ['rotary (interleaved), prompt, batch 2', { ...H, batch: 2, seq: 5, past: 0, rotary: 'interleaved' }],
  ['partial rotary (16 of 32), batch 2 step', { ...H, headSize: 32, batch: 2, seq: 1, past: 3, rotary: 'half', rotaryDim: 16 }, 1],
  ['rotary from position_ids input', { ...H, batch: 2, seq: 1, past: 3, rotary: 'half', positionIds: true }, 1],
  ['rotary, right-padded prompt', { ...H, batch: 2, seq: 5, past: 0, rotary: 'half', totals: [5, 3] }],
  ['local window 2, prompt', { ...H, batch: 2, seq: 6, past: 0, window: 2 }, 3],
  ['local window 2, batch 2 step over a past', { ...H, batch: 2, seq: 1, past: 5, window: 2 }, 4],
  ['softcap 0.5 and scale 0.4', { ...H, batch: 1, seq: 5, past: 2, softcap: 0.5, scale: 0.4 }],
  ['attention_bias [B,N,S,T]', { ...H, batch: 2, seq: 5, past: 0, bias: 'full' }],
  ['attention_bias [1,1,S,T] over a past', { ...H, batch: 1, seq: 3, past: 2, bias: 'broadcast' }],
  ['packed, rotary (interleaved), window 4, softcap 30', { ...H, batch: 1, seq: 6, past: 0, packed: true, rotary: 'interleaved', window: 4, softcap: 30 }, 3],
  ['same, batch 2 step over a past', { ...H, batch: 2, seq: 1, past: 6, packed: true, rotary: 'interleaved', window: 4, softcap: 30 }, 5],
];

describe('decomposeFusedAttention: GroupQueryAttention', () => {
  for (const [name, spec, column] of GQA) {
    it(`${name}: same outputs and presents as the fused op (1e-5); control works`, async () => {
      const variant = await checkDecomposition(gqaModel(spec), gqaFeeds(spec), gqaProbe(spec), 1e-5, column ?? 2);
      expect(variant).toContain(`${spec.heads} query / ${spec.kvHeads} KV heads`);
    });
  }

  it('float16: computed in float32 like the kernel; outputs within one float16 rounding', async () => {
    for (const spec of [
      { ...H, batch: 1, seq: 4, past: 3, fp16: true, rotary: 'half' },
      { ...H, batch: 2, seq: 1, past: 3, fp16: true, packed: true, rotary: 'interleaved', softcap: 30 },
    ] as GqaSpec[]) {
      const fused = gqaModel(spec);
      const feeds = gqaFeeds(spec);
      const m = clone(fused);
      expect(decomposeFusedAttention(m).nodes[0]!.variant).toContain('float16 computed in float32');
      const [a, b] = [await runModel(fused, feeds), await runModel(m, feeds)];
      for (const k of Object.keys(a)) expect(maxAbsDiff(a[k]!, b[k]!), k).toBeLessThanOrEqual(1e-3);
    }
  });

  it('refuses smooth_softmax, head_sink and qk_output by name', () => {
    const spec: GqaSpec = { ...H, batch: 1, seq: 2, past: 0 };
    const withAttr = (name: string) => {
      const m = gqaModel(spec);
      m.graph.nodes[0]!.attributes.push(makeAttribute(name, 1));
      return m;
    };
    const sink = gqaModel(spec);
    const node = sink.graph.nodes[0]!;
    while (node.inputs.length < 11) node.inputs.push('');
    node.inputs.push('past_key');
    for (const [m, word] of [[withAttr('smooth_softmax'), 'smooth_softmax'], [withAttr('qk_output'), 'qk_output'], [sink, 'head_sink']] as const) {
      let err: unknown;
      try {
        decomposeFusedAttention(m);
      } catch (e) {
        err = e;
      }
      expect(isAtmanError(err, 'MODEL_UNSUPPORTED')).toBe(true);
      expect(String((err as Error).message)).toContain(word);
      expect(String((err as Error).message)).toContain('GroupQueryAttention');
    }
    expect(getAttr(gqaModel(spec).graph.nodes[0]!, 'smooth_softmax')).toBeUndefined();
  });
});

function attentionProbe(s: AttentionSpec): ControlProbe {
  const keys = s.past + s.seq;
  const masked = (b: number, j: number) => s.mask === 'left-padded' && b === s.batch - 1 && j === 0;
  return {
    keys,
    batch: s.batch,
    seq: s.seq,
    position: (_b, q) => (s.unidirectional ? s.past + q : keys),
    sees: (b, q, j) => !masked(b, j) && (!s.unidirectional || j <= s.past + q),
  };
}

const A = { heads: 4, headSize: 8 };
const ATTENTION: Array<[string, AttentionSpec, number?]> = [
  ['unidirectional, no mask, batch 1', { ...A, batch: 1, seq: 5, past: 0, unidirectional: true }],
  ['unidirectional, 2-D mask, batch 2', { ...A, batch: 2, seq: 5, past: 0, unidirectional: true, mask: 'ones' }],
  ['unidirectional, left-padded mask, mask_filter_value -3.4e38, batch 2', { ...A, batch: 2, seq: 5, past: 0, unidirectional: true, mask: 'left-padded', maskFilterValue: -3.4028234663852886e38 }],
  ['same over a past of 2, batch 2', { ...A, batch: 2, seq: 3, past: 2, unidirectional: true, mask: 'left-padded', maskFilterValue: -3.4028234663852886e38 }, 3],
  ['one new row over a past of 4, batch 2', { ...A, batch: 2, seq: 1, past: 4, unidirectional: true, mask: 'ones' }],
  ['several new rows over a past, batch 1', { ...A, batch: 1, seq: 3, past: 4, unidirectional: true, mask: 'ones' }, 5],
  ['bidirectional with a padded key, batch 2', { ...A, batch: 2, seq: 4, past: 0, mask: 'left-padded' }],
  ['attention_bias and scale 0.3 (no past: the kernel refuses both)', { ...A, batch: 2, seq: 3, past: 0, present: false, unidirectional: true, attentionBias: true, scale: 0.3 }, 1],
  ['input size 12 into 4 heads of 8', { ...A, batch: 2, seq: 3, past: 1, unidirectional: true, inputSize: 12 }],
];

describe('decomposeFusedAttention: contrib Attention', () => {
  for (const [name, spec, column] of ATTENTION) {
    it(`${name}: same output and present as the fused op (1e-5); control works`, async () => {
      const variant = await checkDecomposition(attentionModel(spec), attentionFeeds(spec), attentionProbe(spec), 1e-5, column ?? 2);
      expect(variant).toContain(`${spec.heads} heads`);
    });
  }

  it('refuses a mask_index that is not the raw 2-D mask, by name', () => {
    const m = attentionModel({ ...A, batch: 1, seq: 2, past: 0, mask: 'ones' });
    m.graph.inputs.find((v) => v.name === 'attention_mask')!.dims = ['batch'];
    expect(() => decomposeFusedAttention(m)).toThrow(/Attention.*mask_index of rank 1/);
  });
});

function mhaProbe(s: MhaSpec): ControlProbe {
  const keys = s.past + (s.kvSeq ?? s.seq);
  const masked = (b: number, j: number) => !!s.mask && b === s.batch - 1 && j === 0;
  return {
    keys,
    batch: s.batch,
    seq: s.seq,
    position: (_b, q) => (s.unidirectional ? s.past + q : keys),
    sees: (b, q, j) => !masked(b, j) && (!s.unidirectional || j <= s.past + q),
  };
}

const M = { heads: 4, headSize: 8 };
const MHA: Array<[string, MhaSpec, number?]> = [
  ['no mask, batch 1', { ...M, batch: 1, seq: 5, past: 0 }],
  ['bias, unidirectional, batch 2', { ...M, batch: 2, seq: 5, past: 0, bias: true, unidirectional: true }],
  ['bias, unidirectional, 2-D key_padding_mask over a past of 2, batch 2', { ...M, batch: 2, seq: 3, past: 2, bias: true, unidirectional: true, mask: '2d' }, 3],
  ['one new row over a past of 3, batch 2', { ...M, batch: 2, seq: 1, past: 3, bias: true, unidirectional: true, mask: '2d' }],
  ['several new rows over a past, batch 1', { ...M, batch: 1, seq: 3, past: 3, unidirectional: true }, 4],
  ['3-D key_padding_mask, mask_filter_value -3.4e38, batch 2', { ...M, batch: 2, seq: 3, past: 0, mask: '3d', maskFilterValue: -3.4e38 }],
  ['attention_bias and scale 0.2 over a past, batch 2', { ...M, batch: 2, seq: 3, past: 2, attentionBias: true, scale: 0.2 }],
  ['keys and values already [B,N,L,H] (6 keys for 3 queries), batch 2', { ...M, batch: 2, seq: 3, kvSeq: 6, past: 0, split: true, mask: '2d' }, 4],
  ['value head size 4, key head size 8, batch 2', { ...M, vHeadSize: 4, batch: 2, seq: 3, past: 0, bias: true }],
];

describe('decomposeFusedAttention: MultiHeadAttention', () => {
  for (const [name, spec, column] of MHA) {
    it(`${name}: same outputs and presents as the fused op (1e-5); control works`, async () => {
      const variant = await checkDecomposition(mhaModel(spec), mhaFeeds(spec), mhaProbe(spec), 1e-5, column ?? 2);
      expect(variant).toContain(`${spec.heads} heads`);
    });
  }

  it('cross-attention over encoder_hidden_states stays cross-attention for insertAttentionControl', async () => {
    for (const spec of [
      { ...M, batch: 2, seq: 3, kvSeq: 6, past: 0, fromEncoder: true, bias: true },
      { ...M, batch: 1, seq: 1, kvSeq: 6, past: 0, fromEncoder: true, mask: '2d' },
    ] as MhaSpec[]) {
      const fused = mhaModel(spec);
      const feeds = mhaFeeds(spec);
      const m = clone(fused);
      decomposeFusedAttention(m);
      const [a, b] = [await runModel(fused, feeds), await runModel(m, feeds)];
      for (const k of Object.keys(a)) expect(maxAbsDiff(a[k]!, b[k]!), k).toBeLessThanOrEqual(1e-5);
      const report = insertAttentionControl(m, { mode: 'multiplicative' });
      expect(report.sites.map((s) => [s.kind, s.role, s.keysFrom])).toEqual([['decomposed', 'cross', 'encoder_hidden_states']]);
      const L = spec.kvSeq!;
      const factors = (j?: number) => {
        const f = new Float32Array(spec.batch * L).fill(1);
        if (j !== undefined) for (let i = 0; i < spec.batch; i++) f[i * L + j] = 0;
        return { ...feeds, [CROSS_FACTORS_INPUT]: new ort.Tensor('float32', f, [spec.batch, L]) };
      };
      const ones = await runModel(m, factors());
      expect(maxAbsDiff(ones.output!, b.output!)).toBeLessThanOrEqual(1e-6);
      const off = await runModel(m, factors(3));
      expect(maxAbsDiff(off.output!, b.output!)).toBeGreaterThan(1e-4);
    }
  });

  it('refuses a 1-D key_padding_mask by name', () => {
    const m = mhaModel({ ...M, batch: 1, seq: 2, past: 0, mask: '2d' });
    m.graph.inputs.find((v) => v.name === 'key_padding_mask')!.dims = ['batch'];
    expect(() => decomposeFusedAttention(m)).toThrow(/MultiHeadAttention.*key_padding_mask of rank 1/);
  });
});

describe('decomposeFusedAttention in merged-decoder If branches', () => {
  it('rewrites the GroupQueryAttention of both branches, keeps their outputs, and insertAttentionControl finds one site in each', async () => {
    const spec: GqaSpec = { ...H, batch: 2, seq: 1, past: 3 };
    const outer = new GraphBuilder('main');
    const T = DataType.FLOAT;
    const names = ['query', 'key', 'value', 'past_key', 'past_value'];
    outer.input('query', T, ['batch', 'seq', 64]);
    outer.input('key', T, ['batch', 'seq', 32]);
    outer.input('value', T, ['batch', 'seq', 32]);
    outer.input('past_key', T, ['batch', 2, 'past', 16]);
    outer.input('past_value', T, ['batch', 2, 'past', 16]);
    outer.input('seqlens_k', DataType.INT32, ['batch']);
    outer.input('total_sequence_length', DataType.INT32, []);
    outer.input('use_cache_branch', DataType.BOOL, [1]);
    mergedIf(outer, 'use_cache_branch', (b, useCache) => {
      const [o, k, v] = b.opN('GroupQueryAttention', [...names, 'seqlens_k', 'total_sequence_length'], 3, { num_heads: 4, kv_num_heads: 2 }, 'com.microsoft');
      if (!useCache) b.graph.nodes[0]!.attributes.push(makeFloatAttribute('softcap', 0.5));
      return [
        { value: o!, name: 'output', type: T, dims: ['batch', 'seq', 64] },
        { value: k!, name: 'present_key', type: T, dims: ['batch', 2, 'total', 16] },
        { value: v!, name: 'present_value', type: T, dims: ['batch', 2, 'total', 16] },
      ];
    });
    const fused = makeModel(outer, { microsoft: true });
    const m = clone(fused);
    const report = decomposeFusedAttention(m);
    expect(report.nodes.map((n) => n.graph)).toEqual(['main//If/then_branch', 'main//If/else_branch']);
    expect(report.nodes[1]!.variant).toContain('softcap 0.5');
    for (const cond of [true, false]) {
      const feeds = { ...gqaFeeds(spec), use_cache_branch: new ort.Tensor('bool', [cond], [1]) };
      const [a, b] = [await runModel(fused, feeds), await runModel(m, feeds)];
      for (const k of Object.keys(a)) expect(maxAbsDiff(a[k]!, b[k]!), `${k}, use_cache_branch ${cond}`).toBeLessThanOrEqual(1e-5);
      const controlled = clone(m);
      const control = insertAttentionControl(controlled, { mode: 'multiplicative', expectedLayers: 1 });
      expect(control.layersPerGraph).toEqual({ 'main//If/then_branch': 1, 'main//If/else_branch': 1 });
      const ones = await runModel(controlled, { ...feeds, [FACTORS_INPUT]: new ort.Tensor('float32', new Float32Array(8).fill(1), [2, 4]) });
      expect(maxAbsDiff(ones.output!, b.output!)).toBeLessThanOrEqual(1e-6);
    }
  });
});

describe('decomposeFusedAttention refusals', () => {
  it('names the op and the attribute it cannot rewrite', () => {
    const m = gqaModel({ ...H, batch: 1, seq: 2, past: 0 });
    m.graph.nodes[0]!.attributes.push(makeAttribute('k_quant_type', 'PER_CHANNEL'));
    expect(() => decomposeFusedAttention(m)).toThrow(/fused GroupQueryAttention node .*the attribute k_quant_type/);
  });
});
