import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type ControlProbe, type Feeds, type GqaSpec, gqaFeeds, gqaModel, maxAbsDiff, rowChanges, runModel } from '../../scripts/fixtures/fused-attention';
import { isAtmanError } from '../core/errors';
import { decomposeFusedAttention } from './fused/decompose-fused-attention';
import { FACTORS_INPUT, insertAttentionControl } from './insert-attention-control';
import { type Model, decodeModel, encodeModel, getAttr, makeAttribute } from './onnx-ir';

const clone = (m: Model): Model => decodeModel(encodeModel(m));

/**
 * The decomposed graph gives the fused graph's outputs; insertAttentionControl finds one
 * decomposed self-attention site in it; all-ones factors change nothing; factor 0 on one key
 * column (multiplicative) leaves the rows before that column alone and changes the rows that see it.
 */
export async function checkDecomposition(fused: Model, feeds: Feeds, probe: ControlProbe, tol: number, column: number): Promise<string> {
  const reference = await runModel(fused, feeds);
  const m = clone(fused);
  const report = decomposeFusedAttention(m);
  expect(report.nodes).toHaveLength(1);
  expect(m.graph.nodes.some((n) => n.domain === 'com.microsoft')).toBe(false);
  const decomposed = await runModel(m, feeds);
  expect(Object.keys(decomposed).sort()).toEqual(Object.keys(reference).sort());
  for (const [k, v] of Object.entries(reference)) {
    const d = maxAbsDiff(v, decomposed[k]!);
    expect(d, `${k}: max |fused - decomposed|`).toBeLessThanOrEqual(tol);
  }

  const controlled = clone(m);
  const control = insertAttentionControl(controlled, { mode: 'multiplicative' });
  expect(control.sites.map((s) => [s.kind, s.role])).toEqual([['decomposed', 'self']]);
  const factors = (j?: number) => {
    const f = new Float32Array(probe.batch * probe.keys).fill(1);
    if (j !== undefined) for (let b = 0; b < probe.batch; b++) f[b * probe.keys + j] = 0;
    return { ...feeds, [FACTORS_INPUT]: new ort.Tensor('float32', f, [probe.batch, probe.keys]) };
  };
  const ones = await runModel(controlled, factors());
  for (const [k, v] of Object.entries(decomposed)) expect(maxAbsDiff(v, ones[k]!), `${k} with all-ones factors`).toBeLessThanOrEqual(1e-6);
  const suppressed = await runModel(controlled, factors(column));
  const { before, seen } = rowChanges(decomposed.output!, suppressed.output!, probe, column);
  expect(before).toBeLessThanOrEqual(1e-6);
  expect(seen.length).toBeGreaterThan(0);
  expect(Math.min(...seen)).toBeGreaterThan(1e-4);
  return report.nodes[0]!.variant;
}

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
