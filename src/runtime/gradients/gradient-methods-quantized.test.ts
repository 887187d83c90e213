// The gradient methods on the quantized variants: 4-bit MatMulNBits weights (tiny-gpt2 q4) and
// 8-bit dynamic quantization (tiny-gpt2-kv and tiny-llama q8: DynamicQuantizeLinear + MatMulInteger
// products, DequantizeLinear tables), each against the float64 reference over the same weights
// dequantized. The q8 gradients are straight-through (the activation rounding left out), which the
// run report says.
import { describeGradientAgreement } from '../../testing/gradient-agreement';
import { gpt2Fixture, llamaFixture } from '../../testing/gradient-fixtures';

const STRAIGHT_THROUGH = /straight-through/;
describeGradientAgreement('tiny-gpt2 q4', () => gpt2Fixture('fixtures/models/tiny-gpt2', { file: 'model_q4.onnx', dtype: 'q4' }));
describeGradientAgreement('tiny-gpt2-kv q8', () => gpt2Fixture('fixtures/models/tiny-gpt2-kv', { file: 'model_quantized.onnx', dtype: 'q8', note: STRAIGHT_THROUGH }));
describeGradientAgreement('tiny-llama q8', () => llamaFixture('fixtures/models/tiny-llama', { file: 'model_quantized.onnx', dtype: 'q8', note: STRAIGHT_THROUGH }));
