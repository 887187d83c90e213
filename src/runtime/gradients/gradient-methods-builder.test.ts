// The gradient methods on the onnxruntime-genai builder's qwen2 layout (GroupQueryAttention with
// rotary inside, SkipSimplifiedLayerNormalization), fp32 and 4-bit (MatMulNBits weights,
// GatherBlockQuantized table: the reference reads the same weights dequantized).
import { describeGradientAgreement } from '../../testing/gradient-agreement';
import { qwen2BuilderFixture } from '../../testing/gradient-fixtures';

const DIR = 'fixtures/models/tiny-qwen2-builder';
describeGradientAgreement('tiny-qwen2-builder', () => qwen2BuilderFixture(DIR));
describeGradientAgreement('tiny-qwen2-builder q4', () => qwen2BuilderFixture(DIR, { file: 'model_q4.onnx', dtype: 'q4' }));
