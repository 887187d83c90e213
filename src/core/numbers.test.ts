import { describe, expect, it } from 'vitest';
import { isAtmanError } from './errors';
import { NUMBER_RULES, assertFinite, checkNumber, checkRunNumbers, numberProblem, parseDecimal, parseGranularity, readNumber, readNumberList, validateSettings } from './index';

const thrown = (f: () => unknown): { code: string; message: string; detail: unknown } => {
  try {
    f();
  } catch (e) {
    if (!isAtmanError(e)) throw e;
    return { code: e.code, message: e.message, detail: e.detail };
  }
  throw new Error('did not throw');
};

describe('numbers read from text', () => {
  it('reads plain decimals and nothing Number() would also take', () => {
    expect(readNumber('0.5', NUMBER_RULES.factor)).toBe(0.5);
    expect(readNumber(' 1e-2 ', NUMBER_RULES.factor)).toBe(0.01);
    expect(readNumber('.5', NUMBER_RULES.factor)).toBe(0.5);
    for (const text of ['', ' ', '0x10', '0b1', 'Infinity', 'NaN', '1,5', 'abc', '1e300', '-1', '1 2']) {
      const e = thrown(() => readNumber(text, NUMBER_RULES.factor, '--factor'));
      expect(e.code).toBe('BAD_SETTING');
      expect(e.message).toMatch(/^--factor must be a number from 0 to 1000 \(/);
      expect(e.detail).toMatchObject({ field: 'factor', min: 0, max: 1000, integer: false });
    }
    expect(parseDecimal('0x10')).toBeNaN();
    expect(parseDecimal('')).toBeNaN();
  });

  it('counts are whole numbers in their range', () => {
    expect(readNumber('8', NUMBER_RULES.batchSize)).toBe(8);
    for (const text of ['0', '-3', '1.5', 'abc', '1e2', '', '1025']) {
      const e = thrown(() => readNumber(text, NUMBER_RULES.batchSize, '--batch-size'));
      expect(e.message).toBe(`--batch-size must be a whole number from 1 to 1024 (passes run together); got ${JSON.stringify(text) === '""' ? 'nothing' : JSON.stringify(text)}.`);
    }
    expect(readNumberList('0, 2,3', NUMBER_RULES.layer)).toEqual([0, 2, 3]);
    expect(thrown(() => readNumberList('0,,2', NUMBER_RULES.layer, 'Each of --layers')).message).toMatch(/^Each of --layers must be a whole number from 0 to 9999; got nothing\./);
  });

  it('quotes long input shortened', () => {
    const e = thrown(() => readNumber('9'.repeat(500), NUMBER_RULES.generate));
    expect(e.message.length).toBeLessThan(200);
  });
});

describe('granularity offsets', () => {
  it('chunk offsets are whole character offsets in range', () => {
    expect(parseGranularity('chunks:0-12,20-31')).toEqual({ kind: 'chunks', chunks: [[0, 12], [20, 31]] });
    expect(thrown(() => parseGranularity('chunks:0-99999999999999999999')).message).toMatch(/^A chunk end must be a whole number from 0 to 10000000; got "99999999999999999999"\.$/);
  });
});

describe('numbers handed to the API', () => {
  it('refuses non-numbers, non-finite and fractional counts, each naming its field', () => {
    for (const v of [0, -1, 1.5, NaN, Infinity, '4', null]) {
      expect(thrown(() => checkRunNumbers({ batchSize: v })).message).toMatch(/^The batch size must be a whole number from 1 to 1024/);
    }
    expect(() => checkRunNumbers({})).not.toThrow();
    expect(() => checkRunNumbers({ batchSize: 3, memoryBudgetBytes: 1e6 })).not.toThrow();
    expect(thrown(() => checkRunNumbers({ memoryBudgetBytes: -5 })).message).toMatch(/^The memory budget must be/);
    expect(numberProblem(Symbol('x'), NUMBER_RULES.seed)).toMatch(/^The seed must be/);
    expect(checkNumber(0, NUMBER_RULES.removalFactor)).toBe(0);
    expect(numberProblem(1, NUMBER_RULES.removalFactor)).toMatch(/at least 0 and below 1/);
  });

  it('settings use the same rules: a factor that would overflow is refused', () => {
    expect(thrown(() => validateSettings({ factor: 1e300 })).message).toMatch(/^The factor must be a number from 0 to 1000/);
    expect(thrown(() => validateSettings({ kappa: 2 })).message).toMatch(/^The kappa must be a number from 0 to 1/);
    expect(thrown(() => validateSettings({ layers: [0, 1.5] })).message).toMatch(/^The layer index must be a whole number/);
    expect(validateSettings({ factor: 1000, kappa: 1, layers: [0] })).toMatchObject({ factor: 1000, kappa: 1, layers: [0] });
  });
});

describe('assertFinite', () => {
  it('passes finite rows and refuses NaN or infinity with NON_FINITE_SCORES', () => {
    expect(() => assertFinite([new Float64Array([1, 2]), [0]], 'passes')).not.toThrow();
    const e = thrown(() => assertFinite([new Float64Array([1, NaN]), [Infinity], [3]], 'passes'));
    expect(e.code).toBe('NON_FINITE_SCORES');
    expect(e.message).toMatch(/not finite numbers \(NaN or infinity\) in 2 of 3 passes/);
  });
});
