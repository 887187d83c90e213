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

describe('a stored explanation keeps its load split and peak memory', () => {
  const x = sampleExplanation();
  const load = { download: 0.25, rewrite: 0.02, session: 0.21, selfCheck: 4.6, couplingProbe: 0.68, reference: 0, total: 5.1 };

  it('keeps well-formed ones, with the optional peak', () => {
    const run = { ...x.run, load: { ...load, peakRssBytes: 1e9 }, peakRssBytes: 2e9 };
    const y = sanitizeExplanation(JSON.parse(JSON.stringify({ ...x, run })), [])!;
    expect(y.run.load).toEqual({ ...load, peakRssBytes: 1e9 });
    expect(y.run.peakRssBytes).toBe(2e9);
  });

  it('drops malformed ones and reads no inherited field', () => {
    const inherited = Object.create(load) as typeof load;
    for (const bad of [{ ...load, total: 'soon' }, { ...load, session: undefined }, inherited, 7]) {
      expect(sanitizeExplanation({ ...x, run: { ...x.run, load: bad, peakRssBytes: 'big' } }, [])!.run.load).toBeUndefined();
    }
    expect(sanitizeExplanation({ ...x, run: { ...x.run, peakRssBytes: Number.NaN } }, [])!.run.peakRssBytes).toBeUndefined();
  });
});
