// com.microsoft MultiHeadAttention as standard ops, following its CPU kernel:
//  - query [B,S,D]; key/value [B,L,D] (plus their thirds of `bias`), or already
//    split into heads [B,N,L,H] as cross-attention exports pass cached encoder
//    keys (then no bias and no past);
//  - past_key/past_value [B,N,P,H] are prepended; present_key/value hold the result;
//  - scores = scale·q·kᵀ + mask (0, or mask_filter_value for keys the raw
//    key_padding_mask zeroes and, unidirectional, keys after the query), plus
//    attention_bias; softmax over all keys.
import { DataType, attrInt, getAttr } from '../ir/onnx-ir';
import { arange, attendMasked } from './attention-core';
import { type FusedContext, headSize } from './context';

const KNOWN = new Set(['num_heads', 'mask_filter_value', 'scale', 'unidirectional']);

export function decomposeMultiHeadAttention(ctx: FusedContext): string {
  const { e, node: n, dtype } = ctx;
  for (const a of n.attributes) if (!KNOWN.has(a.name)) throw e.unsupported(`the attribute ${a.name}`);
  if (n.inputs.length > 8) throw e.unsupported(`input ${n.inputs.length - 1}, which this rewrite does not know`);
  if (n.outputs[3]) throw e.unsupported('its attention scores output');
  const [query, key, value, bias, mask, attnBias, pastK, pastV] = n.inputs;
  const N = attrInt(n, 'num_heads', 0);
  if (N <= 0) throw e.unsupported(`num_heads ${N}`);
  const qRank = ctx.rank(query!);
  if (qRank !== undefined && qRank !== 3) throw e.unsupported(`a query of rank ${qRank} (packed QKV)`);
  if (!key || !value) throw e.unsupported('no key or value input (packed QKV)');
  const kRank = ctx.rank(key);
  if (kRank !== 3 && kRank !== 4) {
    throw e.unsupported(kRank ? `a key of rank ${kRank} (packed KV)` : 'a key whose rank the graph does not state');
  }
  const split = kRank === 4;
  if (split && (bias || pastK || pastV)) throw e.unsupported('keys already split into heads together with a bias or a past');
  if (!!pastK !== !!pastV) throw e.unsupported('a past key without a past value (or the reverse)');

  const H = headSize(ctx, [
    [query!, -1, N],
    [key, split ? 3 : -1, split ? 1 : N],
    [pastK ?? '', 3, 1],
    [n.outputs[1] ?? '', 3, 1],
  ]);
  const Hv = headSize(ctx, [
    [value, split ? 3 : -1, split ? 1 : N],
    [pastV ?? '', 3, 1],
    [n.outputs[2] ?? '', 3, 1],
    [n.outputs[0]!, -1, N],
  ]);
  const D = N * H;
  const scale = getAttr(n, 'scale')?.f || 1 / Math.sqrt(H);
  const mfv = getAttr(n, 'mask_filter_value')?.f ?? -10000;
  const causal = attrInt(n, 'unidirectional', 0) === 1;
  const ct = dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16 ? DataType.FLOAT : dtype;

  let qIn = query!;
  let kIn = key;
  let vIn = value;
  if (bias) {
    const [bq, bk, bv] = e.split(bias, 0, [D, D, N * Hv]) as [string, string, string];
    qIn = e.op('Add', [qIn, bq]);
    kIn = e.op('Add', [kIn, bk]);
    vIn = e.op('Add', [vIn, bv]);
  }
  const q = e.toHeads(qIn, N, H);
  let k = split ? kIn : e.toHeads(kIn, N, H);
  let v = split ? vIn : e.toHeads(vIn, N, Hv);
  if (pastK && pastV) {
    k = e.op('Concat', [pastK, k], { axis: 2 });
    v = e.op('Concat', [pastV, v], { axis: 2 });
  }
  if (n.outputs[1]) e.op('Identity', [k], {}, n.outputs[1]);
  if (n.outputs[2]) e.op('Identity', [v], {}, n.outputs[2]);

  let allowed: string | undefined;
  const parts = [split ? 'keys and values already in heads' : 'separate q/k/v'];
  if (bias) parts.push('bias');
  if (causal) {
    const S = e.dim(query!, 1);
    const T = e.dim(k, 2);
    const P = e.op('Sub', [T, e.dim(kIn, split ? 2 : 1)]);
    const t4 = e.unsqueeze(arange(e, T), [0, 1, 2]);
    const end = e.unsqueeze(e.op('Add', [arange(e, S), e.op('Add', [P, e.i64([1])])]), [0, 1, 3]);
    allowed = e.op('Less', [t4, end]);
    parts.push('unidirectional');
  }
  if (mask) {
    const rank = ctx.rank(mask);
    if (rank !== 2 && rank !== 3) {
      throw e.unsupported(rank ? `a key_padding_mask of rank ${rank} (only raw [batch, keys] or [batch, queries, keys] 1/0 masks are rewritten)` : 'a key_padding_mask whose shape the graph does not state');
    }
    const keep = e.unsqueeze(e.op('Greater', [e.op('Cast', [mask], { to: DataType.FLOAT }), e.scalar(DataType.FLOAT, 0)]), rank === 2 ? [1, 2] : [1]);
    allowed = allowed ? e.op('And', [allowed, keep]) : keep;
    parts.push(`${rank}-D key_padding_mask`);
  }
  attendMasked(e, { q, k, v, dtype, computeType: ct, scale, allowed, filterValue: mfv, bias: attnBias, width: N * Hv, output: n.outputs[0]! });

  if (attnBias) parts.push('attention_bias');
  if (pastK) parts.push('past key/value');
  parts.push(`mask_filter_value ${mfv}`, `${N} heads, head size ${H}`);
  return parts.join(', ');
}
