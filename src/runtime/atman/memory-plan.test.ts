import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planBatch } from '../../core/memory-budget';
import { createNodeBackend } from '../backends/node-backend';
import { folderSource } from '../sources/folder-source';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { memoryShapeOf } from './memory-plan';

// A real model with a key/value cache: the budget picks the batch the passes run at, and the report says so.
let model: AtmanModel;
beforeAll(async () => {
  model = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2-kv'), createNodeBackend(), {});
});
afterAll(() => model?.release());

const SHORT = 'The cat sat on the mat.';
const LONG = 'The cat sat on the mat and looked at the dog, which ran around the garden twice before it lay down in the sun by the door.';

describe('the memory budget on a loaded model', () => {
  it('chooses the batch from the model config and the sequence, and reports budget, batch and estimate', async () => {
    const short = await explain(model, { prompt: SHORT, target: ' The cat', memoryBudgetBytes: 400_000 });
    const m = short.run.memory!;
    const S = short.tokens.length - 1;
    const plan = planBatch(memoryShapeOf(model, S, 2, { prefixReuse: true }), 400_000);
    expect(m).toEqual({ budgetBytes: 400_000, batchSize: plan.batchSize, estimateBytes: plan.estimateBytes, perItemBytes: plan.perItemBytes, fixedBytes: plan.fixedBytes, chosenBy: 'budget' });
    expect(m.fixedBytes).toBeGreaterThan(0);
    expect(short.batchSize).toBe(m.batchSize);
    expect(short.run.batchSize).toBe(m.batchSize);
    expect(m.estimateBytes).toBeLessThanOrEqual(400_000);

    const long = await explain(model, { prompt: LONG, target: ' The cat', memoryBudgetBytes: 400_000 });
    expect(long.run.memory!.perItemBytes).toBeGreaterThan(m.perItemBytes);
    expect(long.run.memory!.batchSize).toBeLessThan(m.batchSize);
    expect(long.run.memory!.estimateBytes).toBeLessThanOrEqual(400_000);
    // The same scores whatever the batch: the budget changes only how the passes are grouped.
    const one = await explain(model, { prompt: LONG, target: ' The cat', batchSize: 1 });
    long.units.forEach((u, i) => expect(Math.abs(u.score - one.units[i]!.score)).toBeLessThan(1e-5));
    expect(one.run.memory).toMatchObject({ batchSize: 1, chosenBy: 'given', estimateBytes: one.run.memory!.fixedBytes + one.run.memory!.perItemBytes });
  });

  it('counts no tiled prefix without prefix reuse', async () => {
    const x = await explain(model, { prompt: SHORT, target: ' The cat', prefixReuse: false, memoryBudgetBytes: 400_000 });
    expect(x.run.memory!.fixedBytes).toBe(0);
  });
});
