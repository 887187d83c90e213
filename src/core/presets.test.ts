import { describe, expect, it } from 'vitest';
import { isAtmanError } from './errors';
import { DOCUMENT_QA_SETTINGS, SETTINGS_PRESETS, documentQaPrompt, documentQaSettings } from './presets';
import { validateSettings } from './settings';
import type { TokenInfo } from './types';
import { buildUnits } from './units';

describe('document QA preset', () => {
  it('is the paper set-up and valid settings', () => {
    expect(validateSettings(DOCUMENT_QA_SETTINGS)).toEqual({
      mode: 'multiplicative',
      factor: 0,
      kappa: null,
      granularity: { kind: 'sentence' },
      targetGranularity: 'complete',
      postprocess: 'none',
      layers: null,
      tokenOverlap: 'complete',
      chat: true,
    });
    expect(SETTINGS_PRESETS.find((p) => p.id === 'document-qa')?.settings).toBe(DOCUMENT_QA_SETTINGS);
    expect(Object.isFrozen(DOCUMENT_QA_SETTINGS)).toBe(true);
  });

  it('assembles document + question and finds the sentences', () => {
    const qa = documentQaPrompt('  Anna lives in Paris. Ben lives in Rome.  Carl lives in Oslo.\n', ' Where does Ben live? ');
    expect(qa.prompt).toBe('Anna lives in Paris. Ben lives in Rome.  Carl lives in Oslo. Where does Ben live?');
    expect(qa.sentences.map(([a, b]) => qa.prompt.slice(a, b))).toEqual(['Anna lives in Paris.', 'Ben lives in Rome.', 'Carl lives in Oslo.']);
    expect(qa.prompt.slice(...qa.question)).toBe('Where does Ben live?');
    expect(qa.prompt.slice(...qa.document)).toBe('Anna lives in Paris. Ben lives in Rome.  Carl lives in Oslo.');
    expect(documentQaPrompt('A b. C d.', 'Q?', { separator: '\n\nQuestion: ' }).prompt).toBe('A b. C d.\n\nQuestion: Q?');
  });

  it('makes the document sentences, not the question, the units', () => {
    const qa = documentQaPrompt('Anna lives in Paris. Ben lives in Rome.', 'Where does Ben live?');
    const s = documentQaSettings(qa);
    expect(s).toMatchObject({ factor: 0, kappa: null, mode: 'multiplicative', granularity: { kind: 'chunks' } });
    // word-level tokens with a leading space, as byte-level BPE makes them
    const tokens: TokenInfo[] = [];
    for (const m of qa.prompt.matchAll(/ ?[A-Za-z]+|[.?]/g)) {
      tokens.push({ id: tokens.length, text: m[0], start: m.index, end: m.index + m[0].length, role: 'prompt', special: false });
    }
    const units = buildUnits(tokens, qa.prompt, s.granularity, { tokenOverlap: s.tokenOverlap, targetTokenUnits: false });
    expect(units.map((u) => u.label)).toEqual(['Anna lives in Paris.', 'Ben lives in Rome.']);
    // the space before "Ben" belongs to the second sentence's token only: no position in two units
    const all = units.flatMap((u) => u.positions);
    expect(new Set(all).size).toBe(all.length);
    expect(documentQaSettings(undefined, { factor: 0.1 })).toMatchObject({ factor: 0.1, granularity: { kind: 'sentence' } });
  });

  it('refuses an empty document or question', () => {
    for (const [d, q] of [['', 'Q?'], ['Doc.', '  ']]) {
      let caught: unknown;
      try {
        documentQaPrompt(d!, q!);
      } catch (e) {
        caught = e;
      }
      expect(isAtmanError(caught, 'EMPTY_PROMPT')).toBe(true);
    }
  });
});
