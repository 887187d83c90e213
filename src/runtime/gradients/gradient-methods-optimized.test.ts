// The gradient methods on GPT-2 as onnxruntime's transformer optimizer writes it (opset 11,
// EmbedLayerNormalization, contrib Attention with a stacked cache, SkipLayerNormalization,
// FastGelu): the fused embedding is split so the token embeddings can be fed, the graph is
// differentiated at opset 13 (both said in the run report), against a float64 GPT-2 over its weights.
import { describeGradientAgreement } from '../../testing/gradient-agreement';
import { optimizedGpt2Fixture } from '../../testing/gradient-fixtures';

// Its random model reads ids below 1000 only: GPT-2's single-byte and shortest merged tokens.
describeGradientAgreement('ortgenai-tiny-random-gpt2', () =>
  optimizedGpt2Fixture('fixtures/models/ortgenai-tiny-random-gpt2', { texts: [' of the and to', ' in is'], note: /differentiated as opset 13/ }),
);
