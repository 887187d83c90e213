import { describe, expect, it } from 'vitest';
import { sanitizeExplanation } from './sanitize';
import { sampleExplanation } from '../testing/sample-explanation';

describe('a stored explanation keeps how coupled rows were handled', () => {
  const x = sampleExplanation();
  const deviation = { passesCompared: 9, baselineMaxAbsDiff: 0.01, maxAbsScoreDiff: 0.05, maxAbsScore: 1, relative: 0.05 };

  it('keeps a well-formed rowCoupling, with its deviation', () => {
    const run = { ...x.run, rowCoupling: { reason: 'DynamicQuantizeLinear couples rows.', handling: 'dequantized', deviation } };
    expect(sanitizeExplanation(JSON.parse(JSON.stringify({ ...x, run })), [])!.run.rowCoupling).toEqual(run.rowCoupling);
    const exact = { ...x.run, rowCoupling: { reason: 'r', handling: 'exact' } };
    expect(sanitizeExplanation({ ...x, run: exact }, [])!.run.rowCoupling).toEqual({ reason: 'r', handling: 'exact' });
  });

  it('drops a malformed one, and a malformed deviation', () => {
    expect(sanitizeExplanation({ ...x, run: { ...x.run, rowCoupling: { reason: 'r', handling: 'fast' } } }, [])!.run.rowCoupling).toBeUndefined();
    expect(sanitizeExplanation({ ...x, run: { ...x.run, rowCoupling: { reason: 3, handling: 'exact' } } }, [])!.run.rowCoupling).toBeUndefined();
    const bad = { ...x.run, rowCoupling: { reason: 'r', handling: 'dequantized', deviation: { ...deviation, relative: 'x' } } };
    expect(sanitizeExplanation({ ...x, run: bad }, [])!.run.rowCoupling).toEqual({ reason: 'r', handling: 'dequantized' });
    expect(sanitizeExplanation(x, [])!.run.rowCoupling).toBeUndefined();
  });
});
