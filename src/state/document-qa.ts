// The paper's document-QA set-up in one click: its settings, and with a bundled model that ships
// examples, a document + question as the prompt and the answer as the target.
import { DOCUMENT_QA_SETTINGS } from '../core/presets';
import type { ExplainSettings } from '../core/types';
import type { Example } from './slices/model-slice';
import { sameSettings } from './settings-compare';
import { clearResults } from './demos';
import type { AppState, AppStore } from './slices/app-state';

export const documentQaSettingsCopy = (): ExplainSettings => structuredClone({ ...DOCUMENT_QA_SETTINGS, granularity: { ...DOCUMENT_QA_SETTINGS.granularity } }) as ExplainSettings;

/** Sentences in a text (ends of sentences followed by a space or the end). */
const sentenceCount = (text: string): number => text.split(/[.?!](?:\s|$)/).filter((t) => t.trim() !== '').length;

/**
 * The example the preset fills: the longest document with known evidence (most sentences, so that
 * distractors surround the answer, as in the paper's document QA), else the longest example. Always
 * the same one, so the click visibly loads it even over the first visit's (shorter) example.
 */
export function documentQaExample(s: Pick<AppState, 'modelChoice' | 'examples'>): Example | null {
  if (s.modelChoice.kind !== 'bundled' || s.examples.length === 0) return null;
  const withEvidence = s.examples.filter((e) => e.evidence);
  const pool = withEvidence.length ? withEvidence : s.examples;
  return pool.reduce((best, e) => (sentenceCount(e.prompt) > sentenceCount(best.prompt) ? e : best));
}

/**
 * Applies the preset; returns the example it filled in, if any (its `evidence` is the sentence that
 * should rank first). A filled example is a new text: the results of the old one are dropped.
 */
export function applyDocumentQaPreset(store: AppStore): Example | null {
  const s = store.getState();
  if (s.status !== 'idle') return null;
  const ex = documentQaExample(s);
  if (ex && (ex.prompt !== s.prompt || ex.target !== s.target)) clearResults(store);
  // The chat template is about the model's input format, not the method's set-up: it stays as chosen.
  store.setState({ settings: { ...documentQaSettingsCopy(), chat: s.settings.chat }, ...(ex ? { prompt: ex.prompt, target: ex.target, generation: null } : {}) });
  return ex;
}

/** Whether the current settings are the preset's. */
export function isDocumentQa(settings: ExplainSettings): boolean {
  return sameSettings(settings, { ...documentQaSettingsCopy(), chat: settings.chat });
}
