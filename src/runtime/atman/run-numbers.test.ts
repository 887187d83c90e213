// The engine's entry points refuse bad numbers from any caller (the API, the worker, the CLI)
// before they run: a batch size of 0 used to loop until the heap was exhausted.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createNodeBackend } from '../backends/node-backend';
import { explainComparison } from '../compare/comparison-methods';
import { measureFaithfulness } from '../compare/faithfulness';
import { folderSource } from '../sources/folder-source';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { generateGreedy } from './generate';
import { steer } from './steer';

describe('bad numbers at the engine entry points (tiny-gpt2)', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(resolve('fixtures/models/tiny-gpt2')), createNodeBackend(), { selfCheck: false });
  });
  afterAll(() => model.release());
  const req = { prompt: 'The cat sat on the mat.', target: ' The cat' };

  it('batchSize 0, negative, fractional or not a number', async () => {
    for (const batchSize of [0, -1, 1.5, Number.NaN, 1e9]) {
      await expectCode(explain(model, { ...req, batchSize }), 'BAD_SETTING', /^The batch size must be a whole number from 1 to 1024/);
      await expectCode(explainComparison(model, { ...req, method: 'occlusion-delete', batchSize }), 'BAD_SETTING', /^The batch size must be/);
    }
    const units = [{ positions: [1], score: 1 }, { positions: [2], score: 0 }];
    await expectCode(measureFaithfulness(model, { ...req, units }, { batchSize: 0 }), 'BAD_SETTING', /^The batch size must be/);
    await expectCode(measureFaithfulness(model, { ...req, units }, { randomRuns: 2.5 }), 'BAD_SETTING', /^The number of random rankings must be a whole number/);
    await expectCode(measureFaithfulness(model, { ...req, units }, { removalFactor: 1 }), 'BAD_SETTING', /^The removal factor \(or "explanation"\) must be a number at least 0 and below 1/);
    await expectCode(explain(model, { ...req, memoryBudgetBytes: -1 }), 'BAD_SETTING', /^The memory budget must be/);
  });

  it('settings and token counts', async () => {
    await expectCode(explain(model, { ...req, settings: { factor: 1e300 } }), 'BAD_SETTING', /^The factor must be a number from 0 to 1000/);
    await expectCode(generateGreedy(model, 'The cat', 0), 'BAD_SETTING', /^The number of tokens to generate must be a whole number from 1 to 4096/);
    await expectCode(generateGreedy(model, 'The cat', 2.5), 'BAD_SETTING', /number of tokens to generate/);
    await expectCode(steer(model, { prompt: 'The cat', units: [{ text: 'cat', factor: 0 }], maxNewTokens: 0 }), 'BAD_SETTING', /^The number of new tokens must be a whole number/);
    await expectCode(steer(model, { prompt: 'The cat', units: [{ text: 'cat', factor: Infinity }], maxNewTokens: 1 }), 'BAD_SETTING', /^The factor for "cat" must be a number from 0 to 1000/);
  });
});
