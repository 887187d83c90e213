// The three gradient methods from the engine against independent float64 versions
// (src/testing/gradient-agreement.ts) on the fp32 GPT-2 and Llama exports and the demo text model.
import { describe, it } from 'vitest';
import { describeGradientAgreement } from '../../testing/gradient-agreement';
import { gpt2Fixture, llamaFixture } from '../../testing/gradient-fixtures';
import { AtmanModel } from '../atman/atman-model';
import { createNodeBackend } from '../backends/node-backend';
import { explainComparison } from '../compare/comparison-methods';
import { folderSource } from '../sources/folder-source';
import { expectCode } from '../../testing/expect-code';

describeGradientAgreement('tiny-gpt2', () => gpt2Fixture('fixtures/models/tiny-gpt2'));
describeGradientAgreement('tiny-gpt2-kv', () => gpt2Fixture('fixtures/models/tiny-gpt2-kv'));
describeGradientAgreement('tiny-gpt2-external', () => gpt2Fixture('fixtures/models/tiny-gpt2-external'));
describeGradientAgreement('tiny-llama', () => llamaFixture('fixtures/models/tiny-llama'));
describeGradientAgreement('tiny-llama-sdpa', () => llamaFixture('fixtures/models/tiny-llama-sdpa'));
describeGradientAgreement('tiny-llama-gqa', () => llamaFixture('fixtures/models/tiny-llama-gqa'));
// (the chat template adds a dozen tokens around the prompt, which the float64 Chefer reference pays for quadratically)
describeGradientAgreement('tiny-llama-instruct', () => llamaFixture('fixtures/models/tiny-llama-instruct', { texts: ['The cat.', ' The'] }));
// The demo's vocabulary spells unknown words letter by letter; words of its task keep the sequence short.
describeGradientAgreement('the demo text model (atman-demo-facts)', () => llamaFixture('public/models/atman-demo-facts', { texts: [' the cat the', ' cat the'] }));

describe('refusals', () => {
  it('says which op blocks the gradient when the token embeddings are fused away', async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/ortgenai-tiny-random-gpt2'), createNodeBackend(), { selfCheck: false });
    try {
      // (this fixture's random model reads ids below 1000 only)
      await expectCode(explainComparison(model, { method: 'input-x-gradient', prompt: 'a b c', target: ' a' }), 'GRADIENT_UNSUPPORTED', /EmbedLayerNormalization/);
    } finally {
      await model.release();
    }
  });
});
