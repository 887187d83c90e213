// Each op's gradient against central finite differences on random inputs, in float64 where
// onnxruntime's CPU kernels take doubles and in float32 (looser tolerance) where they do not.
import { describe, expect, it } from 'vitest';
import { makeFloatAttribute, makeNode } from '../ir/onnx-build';
import { type FdCase, type FdInput, finiteDifferenceCheck } from '../../testing/finite-differences';
import { expectCode } from '../../testing/expect-code';
import { appendGradients } from './append-gradients';
import { emptyGraph, makeValueInfo } from '../ir/onnx-build';
import { DataType } from '../ir/onnx-ir';

const x = (name: string, dims: number[], extra: Partial<FdInput> = {}): FdInput => ({ name, dims, ...extra });
const one = (op: string, inputs: string[], attrs: Record<string, never> | Record<string, unknown> = {}, domain = ''): FdCase['nodes'] => [
  makeNode(op, inputs, ['y'], attrs as never, { domain }),
];
const MS = 'com.microsoft';

// tolerance on max |fd - grad| / max |fd|
const TOL64 = 1e-6;
const TOL32 = 2e-2;

const cases: Array<[string, FdCase, number?]> = [
  ['Add with broadcasting', { nodes: one('Add', ['a', 'b']), inputs: [x('a', [2, 3, 4]), x('b', [3, 1])], output: 'y' }],
  ['Sub', { nodes: one('Sub', ['a', 'b']), inputs: [x('a', [2, 3]), x('b', [1, 3])], output: 'y' }],
  ['Mul with broadcasting', { nodes: one('Mul', ['a', 'b']), inputs: [x('a', [2, 1, 4]), x('b', [3, 4])], output: 'y' }],
  ['Div', { nodes: one('Div', ['a', 'b']), inputs: [x('a', [2, 3]), x('b', [2, 3], { range: [0.5, 2] })], output: 'y' }],
  ['Pow (tensor exponent)', { nodes: one('Pow', ['a', 'b']), inputs: [x('a', [2, 3], { range: [0.5, 2] }), x('b', [3], { range: [1, 3] })], output: 'y' }],
  ['Pow (constant exponent 2)', { nodes: one('Pow', ['a', 'b']), inputs: [x('a', [2, 3]), x('b', [], { data: [2], constant: true })], output: 'y' }],
  ['Sqrt', { nodes: one('Sqrt', ['a']), inputs: [x('a', [5], { range: [0.5, 2] })], output: 'y' }],
  ['Neg', { nodes: one('Neg', ['a']), inputs: [x('a', [5])], output: 'y' }],
  ['Reciprocal', { nodes: one('Reciprocal', ['a']), inputs: [x('a', [5], { range: [0.5, 2] })], output: 'y' }],
  ['Exp', { nodes: one('Exp', ['a']), inputs: [x('a', [5])], output: 'y' }],
  ['Log', { nodes: one('Log', ['a']), inputs: [x('a', [5], { range: [0.5, 2] })], output: 'y' }],
  ['Tanh', { nodes: one('Tanh', ['a']), inputs: [x('a', [6], { range: [-2, 2] })], output: 'y' }],
  ['Sigmoid', { nodes: one('Sigmoid', ['a']), inputs: [x('a', [6], { range: [-3, 3] })], output: 'y' }],
  ['Relu', { nodes: one('Relu', ['a']), inputs: [x('a', [6], { data: [-1, -0.5, 0.3, 0.7, 1.2, -2] })], output: 'y' }],
  ['Erf (float32 only on CPU)', { nodes: one('Erf', ['a']), inputs: [x('a', [6], { range: [-2, 2] })], output: 'y', dtype: 'float32' }, TOL32],
  // onnxruntime fuses Sigmoid * x into QuickGelu, which it has for float32 only
  ['SiLU as Sigmoid * x (float32)', {
    nodes: [makeNode('Sigmoid', ['a'], ['s']), makeNode('Mul', ['a', 's'], ['y'])], inputs: [x('a', [6], { range: [-3, 3] })], output: 'y', dtype: 'float32',
  }, TOL32],
  ['Where', { nodes: one('Where', ['c', 'a', 'b']), inputs: [x('c', [2, 3], { bool: true, data: [1, 0, 1, 0, 0, 1] }), x('a', [2, 3]), x('b', [3])], output: 'y' }],
  ['Cast float -> double -> float (float32)', {
    nodes: [makeNode('Cast', ['a'], ['f'], { to: DataType.DOUBLE }), makeNode('Mul', ['f', 'f'], ['g']), makeNode('Cast', ['g'], ['y'], { to: DataType.FLOAT })],
    inputs: [x('a', [4])], output: 'y', dtype: 'float32',
  }, TOL32],
  ['MatMul 2-D x constant weight', { nodes: one('MatMul', ['a', 'w']), inputs: [x('a', [3, 4]), x('w', [4, 2], { constant: true })], output: 'y' }],
  ['MatMul batched activations (q.k)', { nodes: one('MatMul', ['a', 'b']), inputs: [x('a', [2, 2, 3, 4]), x('b', [2, 2, 4, 3])], output: 'y' }],
  ['MatMul broadcast batch', { nodes: one('MatMul', ['a', 'b']), inputs: [x('a', [2, 3, 4]), x('b', [4, 2])], output: 'y' }],
  ['Gemm transB alpha beta', {
    nodes: [makeNode('Gemm', ['a', 'b', 'c'], ['y'], { transB: 1 })].map((n) => ({ ...n, attributes: [...n.attributes, makeFloatAttribute('alpha', 0.5), makeFloatAttribute('beta', 2)] })),
    inputs: [x('a', [3, 4]), x('b', [2, 4]), x('c', [2])], output: 'y',
  }],
  ['Gemm transA', { nodes: one('Gemm', ['a', 'b'], { transA: 1 }), inputs: [x('a', [4, 3]), x('b', [4, 2])], output: 'y' }],
  ['ReduceSum axes input keepdims 0', { nodes: one('ReduceSum', ['a', 'ax'], { keepdims: 0 }), inputs: [x('a', [2, 3, 4]), x('ax', [1], { int: true, constant: true, data: [1] })], output: 'y' }],
  ['ReduceMean opset 17 attribute', { nodes: one('ReduceMean', ['a'], { axes: [-1] }), inputs: [x('a', [2, 5])], output: 'y' }],
  ['ReduceMean opset 18 input, all axes', { nodes: one('ReduceMean', ['a'], { keepdims: 0 }), inputs: [x('a', [2, 5])], output: 'y', opset: 18 }],
  ['ReduceMax', { nodes: one('ReduceMax', ['a'], { axes: [1] }), inputs: [x('a', [2, 4])], output: 'y' }],
  ['Softmax', { nodes: one('Softmax', ['a'], { axis: -1 }), inputs: [x('a', [2, 3, 5], { range: [-2, 2] })], output: 'y' }],
  ['Softmax over axis 1', { nodes: one('Softmax', ['a'], { axis: 1 }), inputs: [x('a', [2, 3, 5], { range: [-2, 2] })], output: 'y' }],
  ['LogSoftmax', { nodes: one('LogSoftmax', ['a'], { axis: -1 }), inputs: [x('a', [2, 5], { range: [-2, 2] })], output: 'y' }],
  ['LayerNormalization', {
    nodes: one('LayerNormalization', ['a', 's', 'b'], { axis: -1 }), inputs: [x('a', [2, 3, 6]), x('s', [6], { constant: true }), x('b', [6], { constant: true })], output: 'y',
  }],
  ['LayerNormalization axis 1 of 3', {
    nodes: one('LayerNormalization', ['a', 's'], { axis: 1 }), inputs: [x('a', [2, 3, 4]), x('s', [3, 4], { constant: true })], output: 'y',
  }],
  ['LayerNorm exported as ReduceMean/Sub/Pow/Sqrt/Div', {
    nodes: [
      makeNode('ReduceMean', ['a'], ['m'], { axes: [-1] }), makeNode('Sub', ['a', 'm'], ['c']), makeNode('Pow', ['c', 'two'], ['c2']),
      makeNode('ReduceMean', ['c2'], ['v'], { axes: [-1] }), makeNode('Add', ['v', 'eps'], ['ve']), makeNode('Sqrt', ['ve'], ['sd']), makeNode('Div', ['c', 'sd'], ['y']),
    ],
    inputs: [x('a', [2, 5]), x('two', [], { constant: true, data: [2] }), x('eps', [], { constant: true, data: [1e-5] })], output: 'y',
  }],
  ['SimplifiedLayerNormalization (RMSNorm, float32)', {
    nodes: one('SimplifiedLayerNormalization', ['a', 's'], { axis: -1 }), inputs: [x('a', [2, 6]), x('s', [6], { constant: true })], output: 'y', dtype: 'float32',
  }, TOL32],
  ['SkipLayerNormalization (float32)', {
    nodes: [makeNode('SkipLayerNormalization', ['a', 'k', 's', 'b', 'bias'], ['y'], {}, { domain: MS })],
    inputs: [x('a', [2, 3, 6]), x('k', [2, 3, 6]), x('s', [6], { constant: true }), x('b', [6], { constant: true }), x('bias', [6], { constant: true })], output: 'y', dtype: 'float32', msOpset: true,
  }, TOL32],
  ['SkipSimplifiedLayerNormalization with the sum output (float32)', {
    nodes: [makeNode('SkipSimplifiedLayerNormalization', ['a', 'k', 's'], ['n', '', '', 'sum'], {}, { domain: MS }), makeNode('Mul', ['n', 'sum'], ['y'])],
    inputs: [x('a', [2, 3, 6]), x('k', [2, 3, 6]), x('s', [6], { constant: true })], output: 'y', dtype: 'float32', msOpset: true,
  }, TOL32],
  ['Gelu tanh form as exported (Mul/Pow/Tanh)', {
    nodes: [
      makeNode('Pow', ['a', 'three'], ['a3']), makeNode('Mul', ['a3', 'k'], ['ka3']), makeNode('Add', ['a', 'ka3'], ['inner']), makeNode('Mul', ['inner', 'c'], ['u']),
      makeNode('Tanh', ['u'], ['t']), makeNode('Add', ['t', 'one'], ['t1']), makeNode('Mul', ['a', 'half'], ['ha']), makeNode('Mul', ['ha', 't1'], ['y']),
    ],
    inputs: [x('a', [6], { range: [-3, 3] }), ...[['three', 3], ['k', 0.044715], ['c', Math.sqrt(2 / Math.PI)], ['one', 1], ['half', 0.5]].map(([n, v]) => x(n as string, [], { constant: true, data: [v as number] }))], output: 'y',
  }],
  ['Gelu (opset 20, erf)', { nodes: one('Gelu', ['a']), inputs: [x('a', [6], { range: [-3, 3] })], output: 'y', opset: 20, dtype: 'float32' }, TOL32],
  ['Gelu (opset 20, tanh)', { nodes: one('Gelu', ['a'], { approximate: 'tanh' }), inputs: [x('a', [6], { range: [-3, 3] })], output: 'y', opset: 20, dtype: 'float32' }, TOL32],
  ['com.microsoft Gelu (float32)', { nodes: one('Gelu', ['a'], {}, MS), inputs: [x('a', [6], { range: [-3, 3] })], output: 'y', dtype: 'float32', msOpset: true }, TOL32],
  ['FastGelu with bias (float32)', { nodes: one('FastGelu', ['a', 'b'], {}, MS), inputs: [x('a', [2, 4], { range: [-3, 3] }), x('b', [4], { constant: true })], output: 'y', dtype: 'float32', msOpset: true }, TOL32],
  ['Gather rows (repeats added up)', { nodes: one('Gather', ['a', 'i'], { axis: 1 }), inputs: [x('a', [2, 4, 3]), x('i', [3], { int: true, constant: true, data: [2, 0, 2] })], output: 'y' }],
  ['Gather scalar index from a graph input', { nodes: one('Gather', ['a', 'i'], { axis: 0 }), inputs: [x('a', [3, 4]), x('i', [], { int: true, data: [1] })], output: 'y' }],
  ['Slice with steps and negative bounds', {
    nodes: one('Slice', ['a', 's', 'e', 'ax', 'st']),
    inputs: [x('a', [3, 6]), x('s', [1], { int: true, constant: true, data: [-1] }), x('e', [1], { int: true, constant: true, data: [0] }), x('ax', [1], { int: true, constant: true, data: [1] }), x('st', [1], { int: true, constant: true, data: [-2] })],
    output: 'y',
  }],
  ['Concat', { nodes: one('Concat', ['a', 'b', 'c'], { axis: -1 }), inputs: [x('a', [2, 2]), x('b', [2, 3]), x('c', [2, 1])], output: 'y' }],
  ['Split with an unused output', {
    nodes: [makeNode('Split', ['a', 'sz'], ['p', 'q', 'r'], { axis: 1 }), makeNode('Mul', ['p', 'r'], ['y'])],
    inputs: [x('a', [2, 6]), x('sz', [3], { int: true, constant: true, data: [2, 2, 2] })], output: 'y',
  }],
  ['Reshape', { nodes: one('Reshape', ['a', 's']), inputs: [x('a', [2, 6]), x('s', [3], { int: true, constant: true, data: [3, 2, 2] })], output: 'y' }],
  ['Transpose', { nodes: one('Transpose', ['a'], { perm: [1, 2, 0] }), inputs: [x('a', [2, 3, 4])], output: 'y' }],
  ['Transpose without perm', { nodes: one('Transpose', ['a']), inputs: [x('a', [2, 3, 4])], output: 'y' }],
  ['Unsqueeze and Squeeze', {
    nodes: [makeNode('Unsqueeze', ['a', 'ax'], ['u']), makeNode('Mul', ['u', 'u'], ['m']), makeNode('Squeeze', ['m', 'ax'], ['y'])],
    inputs: [x('a', [2, 3]), x('ax', [1], { int: true, constant: true, data: [1] })], output: 'y',
  }],
  ['Expand', { nodes: one('Expand', ['a', 's']), inputs: [x('a', [3, 1]), x('s', [3], { int: true, constant: true, data: [2, 3, 4] })], output: 'y' }],
  ['MatMulNBits 4-bit weights (float32)', {
    nodes: one('MatMulNBits', ['a', 'q', 'sc'], { K: 4, N: 3, bits: 4, block_size: 16 }, MS),
    inputs: [x('a', [2, 4]), x('q', [3, 1, 8], { int: true, u8: true, constant: true, data: Array.from({ length: 24 }, (_, i) => (i * 37) % 256) }), x('sc', [3], { constant: true, data: [0.1, -0.2, 0.05] })],
    output: 'y', dtype: 'float32', msOpset: true,
  }, TOL32],
];

describe('gradient of each op against central finite differences', () => {
  for (const [name, c, tol] of cases) {
    it(name, async () => {
      const r = await finiteDifferenceCheck(c);
      expect(r.compared).toBeGreaterThan(0);
      expect(r.maxRelErr, `max |fd - grad| ${r.maxAbsErr} at scale ${r.scale}`).toBeLessThan(tol ?? TOL64);
    });
  }
});

describe('refusals', () => {
  it('names an op it cannot differentiate', async () => {
    const g = emptyGraph();
    g.inputs.push(makeValueInfo('a', DataType.FLOAT, [4]));
    g.nodes.push(makeNode('Sin', ['a'], ['y']));
    g.outputs.push(makeValueInfo('y', DataType.FLOAT, [4]));
    await expectCode(() => appendGradients({ irVersion: 8n, opsets: [{ domain: '', version: 17 }], graph: g, rest: [] }, { output: 'y', wrt: ['a'] }), 'GRADIENT_UNSUPPORTED', /Sin/);
  });
});
