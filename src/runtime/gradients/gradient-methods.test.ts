// The three gradient methods from the engine against independent float64 versions
// (src/testing/gradient-agreement.ts) on the fp32 GPT-2 and Llama exports and the demo text model.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { feedTokenEmbeddings } from '../../graph/autodiff/feed-token-embeddings';
import { raiseOpsetForGradients } from '../../graph/autodiff/raise-opset';
import { makeValueInfo } from '../../graph/ir/onnx-build';
import { DataType, decodeModel } from '../../graph/ir/onnx-ir';
import { expectCode } from '../../testing/expect-code';
import { describeGradientAgreement } from '../../testing/gradient-agreement';
import { gpt2Fixture, llamaFixture } from '../../testing/gradient-fixtures';
import { AtmanModel } from '../atman/atman-model';
import { createNodeBackend } from '../backends/node-backend';
import { explainComparison } from '../compare/comparison-methods';
import { folderSource } from '../sources/folder-source';

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
  it("refuses integration steps outside the number rule's range, in the rule's words", async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2'), createNodeBackend(), { selfCheck: false });
    try {
      for (const steps of [0, 1001, 2.5]) {
        await expectCode(explainComparison(model, { method: 'integrated-gradients', prompt: 'The cat sat on the mat.', target: ' The cat', steps }), 'BAD_SETTING', /integration steps must be a whole number from 1 to 1000/);
      }
    } finally {
      await model.release();
    }
  });

  it("names the fused embedding when it gives a mask index the graph reads (the split form has none)", () => {
    const m = decodeModel(new Uint8Array(readFileSync('fixtures/models/ortgenai-tiny-random-gpt2/onnx/model.onnx')));
    raiseOpsetForGradients(m);
    const eln = m.graph.nodes.find((n) => n.opType === 'EmbedLayerNormalization')!;
    m.graph.outputs.push(makeValueInfo(eln.outputs[1]!, DataType.INT32, null));
    expect(() => feedTokenEmbeddings(m)).toThrow(expect.objectContaining({ code: 'GRADIENT_UNSUPPORTED', message: expect.stringMatching(/EmbedLayerNormalization.*mask index/) }));
  });
});
