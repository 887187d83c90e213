// com.microsoft Attention (the legacy op onnxruntime's transformer optimizer
// writes, e.g. for GPT-2) as standard ops, following its CPU kernel:
//  - q, k, v = split(input · weights + bias) by qkv_hidden_sizes (thirds by default);
//  - the stacked past [2, B, N, P, H] is prepended to k and v, and present
//    [2, B, N, P+S, H] stacks the results;
//  - scores = scale·q·kᵀ + mask, where the mask is 0 for visible keys and
//    mask_filter_value for keys the raw 2-D mask_index zeroes or that lie after
//    the query (unidirectional); then attention_bias is added; softmax over all keys.
import { DataType, attrInt, getAttr } from '../ir/onnx-ir';
import { arange, attendMasked } from './attention-core';
import { type FusedContext, headSize } from './context';

const KNOWN = new Set([
  'num_heads',
  'unidirectional',
  'mask_filter_value',
  'scale',
  'qkv_hidden_sizes',
  'past_present_share_buffer',
  'do_rotary',
  'rotary_embedding_dim',
]);

export function decomposeContribAttention(ctx: FusedContext): string {
  const { e, node: n, dtype } = ctx;
  for (const a of n.attributes) if (!KNOWN.has(a.name)) throw e.unsupported(`the attribute ${a.name}`);
  if (attrInt(n, 'do_rotary', 0) !== 0) throw e.unsupported('do_rotary');
  if (attrInt(n, 'past_present_share_buffer', 0) !== 0 || n.inputs[6]) throw e.unsupported('a past/present buffer shared in place (past_sequence_length)');
  if (n.inputs.length > 7) throw e.unsupported(`input ${n.inputs.length - 1}, which this rewrite does not know`);
  const [x, weights, bias, mask, past, attnBias] = n.inputs;
  const N = attrInt(n, 'num_heads', 0);
  if (N <= 0) throw e.unsupported(`num_heads ${N}`);

  const sizesAttr = getAttr(n, 'qkv_hidden_sizes')?.ints?.map(Number);
  const sizes = sizesAttr?.length ? sizesAttr : undefined;
  const Dq = sizes ? sizes[0]! : headSize(ctx, [[weights!, 1, 3 * N]]) * N;
  const [Dk, Dv] = sizes ? [sizes[1]!, sizes[2]!] : [Dq, Dq];
  if (Dq !== Dk || Dq % N || Dv % N) throw e.unsupported(`qkv_hidden_sizes ${[Dq, Dk, Dv].join(', ')} with ${N} heads`);
  const Hq = Dq / N;
  const Hv = Dv / N;
  const scale = getAttr(n, 'scale')?.f || 1 / Math.sqrt(Hq);
  const mfv = getAttr(n, 'mask_filter_value')?.f ?? -10000;
  const causal = attrInt(n, 'unidirectional', 0) === 1;
  const ct = dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16 ? DataType.FLOAT : dtype;

  let qkv = e.op('MatMul', [x!, weights!]);
  if (bias) qkv = e.op('Add', [qkv, bias]);
  const [qs, ks, vs] = e.split(qkv, 2, [Dq, Dk, Dv]) as [string, string, string];
  const q = e.toHeads(qs, N, Hq);
  let k = e.toHeads(ks, N, Hq);
  let v = e.toHeads(vs, N, Hv);
  if (past) {
    k = e.op('Concat', [e.op('Gather', [past, e.i64(0)], { axis: 0 }), k], { axis: 2 });
    v = e.op('Concat', [e.op('Gather', [past, e.i64(1)], { axis: 0 }), v], { axis: 2 });
  }
  if (n.outputs[1]) {
    if (Hq !== Hv) throw e.unsupported('a present output with keys and values of different head sizes');
    e.op('Concat', [e.unsqueeze(k, [0]), e.unsqueeze(v, [0])], { axis: 0 }, n.outputs[1]);
  }

  // visible keys [B|1,1,S|1,T]: the raw mask's ones, and (unidirectional) keys up to the query's own position
  let allowed: string | undefined;
  const parts: string[] = [];
  if (causal) {
    const S = e.dim(x!, 1);
    const P = past ? e.dim(past, 3) : e.i64([0]);
    const t4 = e.unsqueeze(arange(e, e.op('Add', [P, S])), [0, 1, 2]);
    const end = e.unsqueeze(e.op('Add', [arange(e, S), e.op('Add', [P, e.i64([1])])]), [0, 1, 3]);
    allowed = e.op('Less', [t4, end]);
    parts.push('unidirectional');
  }
  if (mask) {
    const rank = ctx.rank(mask);
    if (rank !== 2) throw e.unsupported(rank ? `a mask_index of rank ${rank} (only the raw [batch, total] 1/0 mask is rewritten)` : 'a mask_index whose shape the graph does not state');
    const keep = e.unsqueeze(e.op('Greater', [e.op('Cast', [mask], { to: DataType.FLOAT }), e.scalar(DataType.FLOAT, 0)]), [1, 2]);
    allowed = allowed ? e.op('And', [allowed, keep]) : keep;
    parts.push('2-D key mask');
  }
  attendMasked(e, { q, k, v, dtype, computeType: ct, scale, allowed, filterValue: mfv, bias: attnBias, width: Dv, output: n.outputs[0]! });

  parts.unshift(`packed QKV weights${sizes ? ` (${sizes.join('/')})` : ''}`);
  if (past) parts.push('stacked past/present');
  if (attnBias) parts.push('attention_bias');
  parts.push(`mask_filter_value ${mfv}`, `${N} heads, head size ${Hq}`);
  return parts.join(', ');
}
