// Named settings that reproduce set-ups from the paper, as plain, validated settings.

import { AtmanError } from './errors';
import { validateSettings } from './settings';
import type { ExplainSettings } from './types';
import { segmentsOf } from './units';

/**
 * The paper's document question answering set-up (SQuAD sentence evidence): the prompt is a
 * document followed by a question, the target is the answer, and each sentence is one unit,
 * fully suppressed (factor 0: in multiplicative mode its scores drop to the row minimum) and
 * scored over the complete answer. Conceptual suppression is off: sentences are the units, and
 * dragging along similar tokens of other sentences would blur which sentence holds the answer.
 */
export const DOCUMENT_QA_SETTINGS: Readonly<ExplainSettings> = Object.freeze({
  mode: 'multiplicative',
  factor: 0,
  kappa: null,
  granularity: Object.freeze({ kind: 'sentence' }),
  targetGranularity: 'complete',
  postprocess: 'none',
  layers: null,
  tokenOverlap: 'complete',
  chat: true,
} as const);

export interface SettingsPreset {
  id: string;
  label: string;
  description: string;
  settings: Readonly<ExplainSettings>;
}

export const SETTINGS_PRESETS: readonly SettingsPreset[] = [
  {
    id: 'document-qa',
    label: 'Document QA (paper)',
    description: 'Document + question as the prompt, the answer as the target; sentence units, factor 0, multiplicative, complete target, conceptual suppression off.',
    settings: DOCUMENT_QA_SETTINGS,
  },
];

export interface DocumentQaPrompt {
  prompt: string;
  /** [start, end) of the document in the prompt */
  document: [number, number];
  /** [start, end) of the question in the prompt */
  question: [number, number];
  /** the document's sentences as prompt character spans, without surrounding whitespace */
  sentences: Array<[number, number]>;
}

/** Assembles "document + separator + question" and finds the document's sentences in it. */
export function documentQaPrompt(documentText: string, question: string, opts: { separator?: string; locale?: string } = {}): DocumentQaPrompt {
  const doc = documentText.trim();
  const q = question.trim();
  if (doc === '') throw new AtmanError('EMPTY_PROMPT', 'The document is empty; paste the text the question is about.');
  if (q === '') throw new AtmanError('EMPTY_PROMPT', 'The question is empty; type what to ask about the text.');
  const separator = opts.separator ?? ' ';
  const prompt = doc + separator + q;
  const sentences: Array<[number, number]> = [];
  for (const [a, b] of segmentsOf(doc, { kind: 'sentence' }, opts.locale)) {
    let s = a;
    let e = b;
    while (s < e && /\s/.test(doc[s]!)) s++;
    while (e > s && /\s/.test(doc[e - 1]!)) e--;
    if (e > s) sentences.push([s, e]);
  }
  const qStart = doc.length + separator.length;
  return { prompt, document: [0, doc.length], question: [qStart, qStart + q.length], sentences };
}

/**
 * The document QA settings. Given an assembled prompt, the units are the document's sentences only
 * (chunks), so the question, which always matters, is not ranked against the evidence.
 */
export function documentQaSettings(qa?: DocumentQaPrompt, overrides: Partial<ExplainSettings> = {}): ExplainSettings {
  const base: Partial<ExplainSettings> = { ...DOCUMENT_QA_SETTINGS };
  if (qa) base.granularity = { kind: 'chunks', chunks: qa.sentences.map(([a, b]): [number, number] => [a, b]) };
  return validateSettings({ ...base, ...overrides });
}
