// com.microsoft GroupQueryAttention as standard ops, following onnxruntime's CPU
// kernel:
//  - per batch item b, total_b = seqlens_k[b] + 1 keys are valid; the item's
//    past length is 0 on the first prompt (sequence length == total_sequence_length)
//    and total_b - S otherwise; its new keys are written into present at that
//    past length, after the first past_b rows of past, and present rows after
//    them are zero (present holds max(total_sequence_length, past length) rows);
//  - rotary positions are past_b + s (or the position_ids input), the cos/sin
//    caches gathered at them, applied to q and the new k before they are cached;
//  - query s of item b sees keys t < min(past_b + s + 1, total_b), and with a
//    local window only the last `local_window_size` of those (see windowSpan);
//  - scores = scale·q·kᵀ, softcapped, plus attention_bias, softmax over the
//    visible keys, computed in float32 for float16 inputs as the kernel does.
import { DataType, type Node, attrInt, getAttr } from '../ir/onnx-ir';
import { arange, attend } from './attention-core';
import { type FusedContext, headSize } from './context';
import type { Emitter } from './emitter';

const KNOWN = new Set([
  'num_heads',
  'kv_num_heads',
  'scale',
  'softcap',
  'local_window_size',
  'do_rotary',
  'rotary_interleaved',
  'smooth_softmax',
  'qk_output',
  // read by the kernel but unused on the CPU: masked keys are left out, not filled
  'mask_filter_value',
]);

const attrFloat = (n: Node, name: string, dflt: number): number => getAttr(n, name)?.f ?? dflt;

export function decomposeGroupQueryAttention(ctx: FusedContext): string {
  const { e, node: n, dtype } = ctx;
  for (const a of n.attributes) if (!KNOWN.has(a.name)) throw e.unsupported(`the attribute ${a.name}`);
  if (attrInt(n, 'smooth_softmax', 0) !== 0) throw e.unsupported('smooth_softmax');
  if (attrInt(n, 'qk_output', 0) !== 0 || n.outputs[3]) throw e.unsupported('qk_output (its attention scores output)');
  if (n.inputs[11]) throw e.unsupported('head_sink');
  if (n.inputs.length > 12) throw e.unsupported(`input ${n.inputs.length - 1}, which this rewrite does not know`);
  const [query, key, value, pastK, pastV, seqlensK, totalSeq, cosCache, sinCache, positionIds, attnBias] = n.inputs;
  if (!seqlensK || !totalSeq) throw e.unsupported('no seqlens_k or total_sequence_length input');
  if (!!pastK !== !!pastV) throw e.unsupported('a past key without a past value (or the reverse)');
  if ((n.outputs[1] && pastK && n.outputs[1] === pastK) || (n.outputs[2] && pastV && n.outputs[2] === pastV)) {
    throw e.unsupported('a past/present buffer shared in place');
  }
  const N = attrInt(n, 'num_heads', 0);
  const Nkv = attrInt(n, 'kv_num_heads', 0);
  if (N <= 0 || Nkv <= 0 || N % Nkv) throw e.unsupported(`num_heads ${N} with kv_num_heads ${Nkv}`);
  const packed = !key && !value;
  if (!packed && (!key || !value)) throw e.unsupported('a key without a value (or the reverse)');

  const H = headSize(ctx, [
    [packed ? query! : key!, -1, packed ? N + 2 * Nkv : Nkv],
    [query!, -1, N],
    [pastK ?? '', 3, 1],
    [n.outputs[1] ?? '', 3, 1],
    [n.outputs[0]!, -1, N],
  ]);
  const scale = attrFloat(n, 'scale', 0) || 1 / Math.sqrt(H);
  const softcap = attrFloat(n, 'softcap', 0);
  const window = attrInt(n, 'local_window_size', -1);
  if (window === 0) throw e.unsupported('local_window_size 0');
  const rotary = attrInt(n, 'do_rotary', 0) === 1;
  const interleaved = attrInt(n, 'rotary_interleaved', 0) === 1;
  const ct = dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16 ? DataType.FLOAT : dtype;

  // --- lengths (int64) ---
  const S = e.dim(query!, 1);
  const total = e.op('Cast', [e.reshape(totalSeq, [1])], { to: DataType.INT64 });
  // With a key mask, items are taken to be unpadded (every length = total) and the mask's zeros hide
  // their columns below; otherwise each item's length is the kernel's seqlens_k + 1.
  const totalB = ctx.keyMask
    ? e.op('Add', [e.op('Mul', [e.op('Cast', [seqlensK], { to: DataType.INT64 }), e.i64(0)]), total])
    : e.op('Add', [e.op('Cast', [seqlensK], { to: DataType.INT64 }), e.i64(1)]); // [B]
  const first = e.op('Equal', [S, total]);
  const pastB = pastK ? e.op('Where', [first, e.i64(0), e.op('Sub', [totalB, S])]) : e.op('Mul', [totalB, e.i64(0)]); // [B]
  const P = pastK ? e.dim(pastK, 2) : e.i64([0]);
  const T = pastK ? e.max(total, P) : total;

  // --- q, k, v as [B,heads,S,H] ---
  let q: string;
  let k: string;
  let v: string;
  if (packed) {
    [q, k, v] = e.split(e.toHeads(query!, N + 2 * Nkv, H), 1, [N, Nkv, Nkv]) as [string, string, string];
  } else {
    q = e.toHeads(query!, N, H);
    k = e.toHeads(key!, Nkv, H);
    v = e.toHeads(value!, Nkv, H);
  }
  const sIdx = arange(e, S);
  if (rotary) {
    if (!cosCache || !sinCache) throw e.unsupported('do_rotary without cos_cache and sin_cache');
    const positions = positionIds
      ? e.op('Cast', [positionIds], { to: DataType.INT64 })
      : e.op('Add', [e.unsqueeze(pastB, [1]), e.unsqueeze(sIdx, [0])]); // [B,S]
    const rot = new Rotary(e, cosCache, sinCache, positions, dtype, ct, interleaved, H, ctx.dims(cosCache));
    q = rot.apply(q);
    k = rot.apply(k);
  }

  // --- present key/value: past rows [0, past_b), then the new rows, then zeros ---
  const tIdx = arange(e, T); // [T]
  const t2 = e.unsqueeze(tIdx, [0]); // [1,T]
  const past2 = e.unsqueeze(pastB, [1]); // [B,1]
  const fromPast = e.op('Less', [t2, past2]);
  const srcNew = e.op('Sub', [e.op('Add', [t2, P]), past2]);
  const lastRow = e.op('Sub', [e.op('Add', [P, S]), e.i64(1)]);
  const src = e.min(e.op('Where', [fromPast, t2, srcNew]), lastRow); // [B,T]
  const filled = e.op('Less', [t2, e.op('Add', [past2, S])]); // [B,T]
  const B = e.dim(query!, 0);
  const gatherIdx = e.op('Expand', [e.unsqueeze(src, [1, 3]), e.op('Concat', [B, e.i64([Nkv]), T, e.i64([H])], { axis: 0 })]);
  const filled4 = e.unsqueeze(filled, [1, 3]);
  const present = (x: string, past: string | undefined, out: string | undefined): string => {
    const all = past ? e.op('Concat', [past, x], { axis: 2 }) : x;
    const rows = e.op('GatherElements', [all, gatherIdx], { axis: 2 });
    return e.op('Where', [filled4, rows, e.scalar(dtype, 0)], {}, out || undefined);
  };
  const presentK = present(k, pastK || undefined, n.outputs[1]);
  const presentV = present(v, pastV || undefined, n.outputs[2]);

  // --- visible keys [B,1,S,T]: t < qEnd, causally visible and existing ---
  const qEnd = e.min(e.op('Add', [e.op('Add', [past2, e.unsqueeze(sIdx, [0])]), e.i64(1)]), e.unsqueeze(totalB, [1])); // [B,S]
  const qEnd4 = e.unsqueeze(qEnd, [1, 3]);
  const t4 = e.unsqueeze(tIdx, [0, 1, 2]);
  let allowed = e.op('Less', [t4, qEnd4]);
  if (window > 0) {
    const start = e.op('Sub', [qEnd4, e.i64(windowSpan(window))]);
    allowed = e.op('And', [allowed, e.op('Not', [e.op('Less', [t4, start])])]);
  }
  // [B,total] -> [B,1,1,total] additive: 0 where the mask is 1, the lowest float where it is 0 (total == T
  // whenever past and present are not one shared buffer). Finite, as exporters write padding masks: a
  // row whose keys are all hidden stays finite instead of turning into NaN that 0-weights carry on.
  const additiveMask = ctx.keyMask
    ? e.unsqueeze(e.op('Where', [e.op('Cast', [ctx.keyMask], { to: DataType.BOOL }), e.scalar(ct, 0), e.scalar(ct, -3.4028234663852886e38)]), [1, 2])
    : undefined;

  const groups = N / Nkv;
  const kc = e.repeatHeads(e.cast(presentK, dtype, ct), Nkv, groups, H);
  const vc = e.repeatHeads(e.cast(presentV, dtype, ct), Nkv, groups, H);
  const bias = attnBias ? e.cast(attnBias, dtype, ct) : undefined;
  const out = attend(e, { q: e.cast(q, dtype, ct), k: kc, v: vc, computeType: ct, scale, softcap, bias, allowed, ...(additiveMask ? { additiveMask } : {}) });
  const merged = e.fromHeads(out, N * H, ct === dtype ? n.outputs[0] : undefined);
  if (ct !== dtype) e.op('Cast', [merged], { to: dtype }, n.outputs[0]);

  const parts = [packed ? 'packed QKV' : 'separate q/k/v'];
  if (rotary) parts.push(`rotary (${interleaved ? 'interleaved' : 'half-split'}${positionIds ? ', position_ids input' : ''})`);
  if (window > 0) parts.push(`window ${window}`);
  if (softcap > 0) parts.push(`softcap ${softcap}`);
  if (attnBias) parts.push('attention_bias');
  if (pastK) parts.push('past key/value');
  if (ctx.keyMask) parts.push(`key columns hidden where ${ctx.keyMask} is 0`);
  parts.push(`${N} query / ${Nkv} KV heads, head size ${H}`);
  if (ct !== dtype) parts.push('float16 computed in float32');
  return parts.join(', ');
}

/**
 * How many keys a local window of `w` lets a query see, itself included: onnxruntime 1.30's CPU
 * kernel keeps the last w of the keys it may see (checked against it in the tests; older
 * kernels kept w + 1).
 */
export const windowSpan = (w: number): number => w;

/** Rotary embedding on [B,heads,S,H] with the caches gathered at [B,S] positions. */
class Rotary {
  private cos: string;
  private sin: string;
  private half: number;

  constructor(
    private e: Emitter,
    cosCache: string,
    sinCache: string,
    positions: string,
    private dtype: number,
    private ct: number,
    private interleaved: boolean,
    private H: number,
    cacheDims: (number | string | null)[] | undefined,
  ) {
    const half = cacheDims?.[1];
    if (typeof half !== 'number') throw e.unsupported('a cos_cache whose width is not stated in the graph');
    this.half = half;
    // [max_pos, half] gathered at [B,S] -> [B,S,half] -> [B,1,S,half]; one more axis for the pair layout
    const at = (c: string) => {
      const g = e.unsqueeze(e.op('Gather', [e.cast(c, dtype, ct), positions], { axis: 0 }), [1]);
      return interleaved ? e.unsqueeze(g, [4]) : g;
    };
    this.cos = at(cosCache);
    this.sin = at(sinCache);
  }

  /** The kernel rotates in float32 and rounds once to the node's type; so does this. */
  apply(x: string): string {
    const { e, half, H } = this;
    const xc = e.cast(x, this.dtype, this.ct);
    const rd = 2 * half;
    const [rot, pass] = rd < H ? (e.split(xc, 3, [rd, H - rd]) as [string, string]) : [xc, undefined];
    let out: string;
    if (this.interleaved) {
      const pairs = e.reshape(rot, [0, 0, 0, half, 2]);
      const [a, b] = e.split(pairs, 4, [1, 1]) as [string, string];
      const ra = e.op('Sub', [e.op('Mul', [a, this.cos]), e.op('Mul', [b, this.sin])]);
      const rb = e.op('Add', [e.op('Mul', [b, this.cos]), e.op('Mul', [a, this.sin])]);
      out = e.reshape(e.op('Concat', [ra, rb], { axis: 4 }), [0, 0, 0, rd]);
    } else {
      const [a, b] = e.split(rot, 3, [half, half]) as [string, string];
      const ra = e.op('Sub', [e.op('Mul', [a, this.cos]), e.op('Mul', [b, this.sin])]);
      const rb = e.op('Add', [e.op('Mul', [b, this.cos]), e.op('Mul', [a, this.sin])]);
      out = e.op('Concat', [ra, rb], { axis: 3 });
    }
    if (pass) out = e.op('Concat', [out, pass], { axis: 3 });
    return e.cast(out, this.ct, this.dtype);
  }
}
