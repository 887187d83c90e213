// Products: MatMul (any rank, broadcast batch axes), Gemm, and onnxruntime's MatMulNBits with
// 4-bit weights. Weights are constants and never get a gradient; only the activation side does.
import { DataType, attrInt, getAttr } from '../../ir/onnx-ir';
import { makeTensor } from '../../ir/onnx-build';
import { type GradContext, type GradRule, gy0 } from '../rule';

/** g @ other^T (for A) or A^T @ g (for B), by MatMul with a transposed operand, or Einsum when ranks are unknown. */
const matmul: GradRule = (c) => {
  const e = c.e;
  const g = gy0(c);
  const [a, b] = c.node.inputs as [string, string];
  for (const r of [e.rank(a), e.rank(b)]) if (r !== undefined && r < 2) throw e.refuse('1-D operands are not supported');
  if (c.needs(0)) {
    const bt = e.swapLast(b);
    const ga = bt ? e.op('MatMul', [g, bt]) : e.op('Einsum', [g, b], { equation: '...ij,...kj->...ik' });
    c.give(0, e.unbroadcast(ga, a));
  }
  if (c.needs(1)) {
    const at = e.swapLast(a);
    const gb = at ? e.op('MatMul', [at, g]) : e.op('Einsum', [a, g], { equation: '...ki,...kj->...ij' });
    c.give(1, e.unbroadcast(gb, b));
  }
};

/** Y = alpha * op(A) @ op(B) + beta * C on 2-D operands. */
const gemm: GradRule = (c) => {
  const e = c.e;
  const g = gy0(c);
  const [a, b, cc] = c.node.inputs as [string, string, string?];
  const transA = attrInt(c.node, 'transA', 0);
  const transB = attrInt(c.node, 'transB', 0);
  const alpha = getAttr(c.node, 'alpha')?.f ?? 1;
  const beta = getAttr(c.node, 'beta')?.f ?? 1;
  const scaled = (x: string, s: number) => (s === 1 ? x : e.op('Mul', [x, e.like(x, s)]));
  if (c.needs(0)) {
    // op(A) = g @ op(B)^T; A is op(A) or its transpose.
    const ga = transA ? e.op('Gemm', [b, g], { transA: transB, transB: 1 }) : e.op('Gemm', [g, b], { transA: 0, transB: transB ? 0 : 1 });
    c.give(0, scaled(ga, alpha));
  }
  if (c.needs(1)) {
    const gb = transB ? e.op('Gemm', [g, a], { transA: 1, transB: transA }) : e.op('Gemm', [a, g], { transA: transA ? 0 : 1, transB: 0 });
    c.give(1, scaled(gb, alpha));
  }
  if (cc && c.needs(2)) c.give(2, e.unbroadcast(scaled(g, beta), cc));
};

/**
 * MatMulNBits: Y = A @ W^T with W [N, K] stored as 4-bit blocks. dA = dY @ W, so W is rebuilt in
 * float by standard ops from the packed bytes, scales and zero points (constants, which onnxruntime
 * folds once when the session is made): low nibble first, zero point 8 unless given.
 */
const matMulNBits: GradRule = (c) => {
  if (!c.needs(0)) return;
  const e = c.e;
  const n = c.node;
  const bits = attrInt(n, 'bits', 4);
  const K = attrInt(n, 'K', 0);
  const N = attrInt(n, 'N', 0);
  const block = attrInt(n, 'block_size', 0);
  if (bits !== 4 || !K || !N || !block) throw e.refuse('only 4-bit weights with known K, N and block size are supported');
  const [a, packed, scales, zeros, gIdx] = n.inputs as [string, string, string, string?, string?];
  if (gIdx) throw e.refuse('g_idx (act-order) weights are not supported');
  const t = e.typeOf(a);
  const blocks = Math.ceil(K / block);
  const nibbles = (x: string): string => {
    // uint8 [..., bytes] -> [..., 2*bytes], low nibble first
    // BitwiseAnd needs opset 18; x - (x >> 4 << 4) works from opset 11.
    const four = u8(c, 4);
    const high = e.op('BitShift', [x, four], { direction: 'RIGHT' });
    const low = e.op('Sub', [x, e.op('BitShift', [high, four], { direction: 'LEFT' })]);
    return e.op('Concat', [e.unsqueeze(low, [-1]), e.unsqueeze(high, [-1])], { axis: -1 });
  };
  const q = e.op('Cast', [e.op('Reshape', [nibbles(packed), e.i64([N, blocks, block])])], { to: t });
  let zp: string;
  if (!zeros) zp = e.like(a, 8);
  else if (e.typeOf(zeros) === DataType.UINT8) {
    zp = e.op('Cast', [e.op('Reshape', [nibbles(zeros), e.i64([N, -1])])], { to: t });
    zp = e.op('Unsqueeze', [e.op('Slice', [zp, e.i64([0]), e.i64([blocks]), e.i64([1])]), e.i64([2])]);
  } else zp = e.op('Reshape', [zeros, e.i64([N, blocks, 1])]);
  const w = e.op('Mul', [e.op('Sub', [q, zp]), e.op('Reshape', [scales, e.i64([N, blocks, 1])])]);
  const wFull = e.op('Slice', [e.op('Reshape', [w, e.i64([N, blocks * block])]), e.i64([0]), e.i64([K]), e.i64([1])]);
  c.give(0, e.op('MatMul', [gy0(c), wFull]));
};

const u8 = (c: GradContext, v: number): string => {
  const name = c.e.name('u8');
  c.e.graph.initializers.push(makeTensor(name, DataType.UINT8, [], Uint8Array.of(v)));
  return name;
};

export const matmulRules: Record<string, GradRule> = { MatMul: matmul, Gemm: gemm, 'com.microsoft:MatMulNBits': matMulNBits };
