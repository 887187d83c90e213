import { describe, expect, it } from 'vitest';
import { sanitizeExplanation } from './sanitize';
import { sampleExplanation } from '../testing/sample-explanation';

describe('a stored explanation keeps its memory plan', () => {
  const x = sampleExplanation();
  const memory = { budgetBytes: 268435456, batchSize: 12, estimateBytes: 250000000, perItemBytes: 20000000, fixedBytes: 10000000, chosenBy: 'budget' };

  it('keeps a well-formed one', () => {
    expect(sanitizeExplanation(JSON.parse(JSON.stringify({ ...x, run: { ...x.run, memory } })), [])!.run.memory).toEqual(memory);
  });

  it('drops a malformed one', () => {
    for (const bad of [{ ...memory, chosenBy: 'guess' }, { ...memory, batchSize: '12' }, 'lots'])
      expect(sanitizeExplanation({ ...x, run: { ...x.run, memory: bad } }, [])!.run.memory).toBeUndefined();
  });
});
