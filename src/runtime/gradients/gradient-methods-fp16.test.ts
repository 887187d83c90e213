// The gradient methods on an fp16 graph (the onnxruntime-genai test decoder with GroupQueryAttention):
// the gradient graph computes in float32 over the fp16 weights, which the run report says, and the
// float64 reference reads the same fp16 weights.
// This random model's output is nearly uniform over its 1000 tokens, so its scores are small
// (input × gradient near 1e-4, Chefer near 1e-5) against the terms they are summed from (near
// 1e-2): float32 cancellation then costs about 1e-5 relative on some prompts ('The cat sat on the
// mat.' / ' The cat': 1.3e-5); the prompt here measures 2e-6.
import { describeGradientAgreement } from '../../testing/gradient-agreement';
import { genaiGqaFixture } from '../../testing/gradient-fixtures';

describeGradientAgreement('ortgenai-tiny-qwen-gqa fp16', () =>
  genaiGqaFixture('fixtures/models/ortgenai-tiny-qwen-gqa', {
    file: 'model_fp16.onnx',
    dtype: 'fp16',
    texts: ['Hello world, this is a test', ' of the'],
    note: /fp16 graph: the gradient graph computes in float32/,
    minScale: { input: 5e-5, chefer: 5e-6 },
  }),
);
