import { describe, expect, it } from 'vitest';
import type { ExplainSettings } from './types';
import { DEFAULT_SETTINGS } from './types';
import { parseGranularity, validateSettings, validateTexts } from './settings';

const badSetting = (partial: unknown, message: RegExp) =>
  expect(() => validateSettings(partial as Partial<ExplainSettings>)).toThrow(
    expect.objectContaining({ name: 'AtmanError', code: 'BAD_SETTING', message: expect.stringMatching(message) }),
  );

describe('validateSettings', () => {
  it('fills defaults and returns copies', () => {
    const s = validateSettings({});
    expect(s).toEqual(DEFAULT_SETTINGS);
    const withLayers = validateSettings({ layers: [0, 2], factor: 0, kappa: null, mode: 'log-additive' });
    expect(withLayers).toMatchObject({ layers: [0, 2], factor: 0, kappa: null, mode: 'log-additive' });
    expect(validateSettings({ factor: 3 }).factor).toBe(3);
    expect(validateSettings({ kappa: undefined }).kappa).toBe(DEFAULT_SETTINGS.kappa);
  });

  it('refuses bad factors', () => {
    for (const factor of [-0.1, NaN, Infinity, '0.1']) badSetting({ factor }, /factor/);
  });

  it('refuses kappa outside [0, 1]', () => {
    for (const kappa of [-0.01, 1.01, NaN]) badSetting({ kappa }, /kappa/);
    expect(validateSettings({ kappa: 0 }).kappa).toBe(0);
    expect(validateSettings({ kappa: 1 }).kappa).toBe(1);
  });

  it('refuses bad layer lists', () => {
    badSetting({ layers: [0, -1] }, /layer index must be a whole number from 0 to 9999; got -1\./);
    badSetting({ layers: [1.5] }, /layer index .*; got 1\.5\./);
    badSetting({ layers: [2, 2] }, /twice/);
    badSetting({ layers: [] }, /at least one/);
  });

  it('refuses unknown strings and keys', () => {
    badSetting({ mode: 'additive' }, /mode/);
    badSetting({ postprocess: 'cube' }, /post-processing/);
    badSetting({ targetGranularity: 'word' }, /target granularity/);
    badSetting({ tokenOverlap: 'some' }, /token overlap/);
    badSetting({ granularity: { kind: 'line' } }, /granularity/);
    badSetting({ kapa: 0.5 }, /Unknown setting "kapa"/);
  });

  it('refuses an empty delimiter and bad chunks', () => {
    badSetting({ granularity: { kind: 'delimiter', delimiter: '' } }, /delimiter/);
    badSetting({ granularity: { kind: 'chunks', chunks: [] } }, /at least one chunk/);
    badSetting({ granularity: { kind: 'chunks', chunks: [[3, 3]] } }, /empty/);
    badSetting({ granularity: { kind: 'chunks', chunks: [[-1, 3]] } }, />= 0/);
    badSetting({ granularity: { kind: 'chunks', chunks: [[5, 9], [0, 3]] } }, /text order/);
    badSetting({ granularity: { kind: 'chunks', chunks: [[0, 5], [4, 9]] } }, /overlaps/);
    expect(validateSettings({ granularity: { kind: 'chunks', chunks: [[0, 5], [5, 9]] } }).granularity).toEqual({
      kind: 'chunks',
      chunks: [[0, 5], [5, 9]],
    });
  });
});

describe('validateTexts', () => {
  it('refuses empty or whitespace-only texts', () => {
    expect(() => validateTexts('  \n', 'x')).toThrow(expect.objectContaining({ code: 'EMPTY_PROMPT' }));
    expect(() => validateTexts('', 'x')).toThrow(expect.objectContaining({ code: 'EMPTY_PROMPT' }));
    expect(() => validateTexts('a', '\t')).toThrow(expect.objectContaining({ code: 'EMPTY_TARGET' }));
    expect(() => validateTexts('a', 'b')).not.toThrow();
  });
});

describe('parseGranularity', () => {
  it('reads the plain kinds', () => {
    for (const kind of ['token', 'word', 'sentence', 'paragraph'] as const) expect(parseGranularity(kind)).toEqual({ kind });
    expect(parseGranularity('Word')).toEqual({ kind: 'word' });
  });

  it('reads delimiters containing colons and escapes', () => {
    expect(parseGranularity('delimiter:;')).toEqual({ kind: 'delimiter', delimiter: ';' });
    expect(parseGranularity('delimiter::')).toEqual({ kind: 'delimiter', delimiter: ':' });
    expect(parseGranularity('delimiter:a:b')).toEqual({ kind: 'delimiter', delimiter: 'a:b' });
    expect(parseGranularity('delimiter:\\n')).toEqual({ kind: 'delimiter', delimiter: '\n' });
    expect(parseGranularity('delimiter:\\\\n')).toEqual({ kind: 'delimiter', delimiter: '\\n' });
  });

  it('reads chunks and refuses nonsense', () => {
    expect(parseGranularity('chunks:0-4, 6-9')).toEqual({ kind: 'chunks', chunks: [[0, 4], [6, 9]] });
    for (const s of ['delimiter:', 'delimiter', 'line', 'word:x', 'chunks:4-2', 'chunks:a-b', ''])
      expect(() => parseGranularity(s)).toThrow(expect.objectContaining({ code: 'BAD_SETTING' }));
  });
});

describe('chat setting', () => {
  it('is on by default and takes booleans only', () => {
    expect(validateSettings({}).chat).toBe(true);
    expect(validateSettings({ chat: false }).chat).toBe(false);
    for (const chat of ['on', 1, null, 'false']) badSetting({ chat }, /chat/);
  });
});
