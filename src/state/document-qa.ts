// The paper's document-QA set-up in one click: its settings, and with a bundled model that ships
// examples, a document + question as the prompt and the answer as the target.
import { DOCUMENT_QA_SETTINGS } from '../core/presets';
import type { ExplainSettings } from '../core/types';
import type { Example } from './slices/model-slice';
import { sameSettings } from './settings-compare';
import type { AppState, AppStore } from './slices/app-state';

export const documentQaSettingsCopy = (): ExplainSettings => structuredClone({ ...DOCUMENT_QA_SETTINGS, granularity: { ...DOCUMENT_QA_SETTINGS.granularity } }) as ExplainSettings;

/** The example the preset fills: the one already shown, else the first with known evidence. */
export function documentQaExample(s: Pick<AppState, 'modelChoice' | 'examples' | 'prompt' | 'target'>): Example | null {
  if (s.modelChoice.kind !== 'bundled' || s.examples.length === 0) return null;
  return s.examples.find((e) => e.prompt === s.prompt && e.target === s.target) ?? s.examples.find((e) => e.evidence) ?? s.examples[0]!;
}

/** Applies the preset; returns the example it filled in, if any (its `evidence` is the sentence that should rank first). */
export function applyDocumentQaPreset(store: AppStore): Example | null {
  const s = store.getState();
  if (s.status !== 'idle') return null;
  const ex = documentQaExample(s);
  // The chat template is about the model's input format, not the method's set-up: it stays as chosen.
  store.setState({ settings: { ...documentQaSettingsCopy(), chat: s.settings.chat }, ...(ex ? { prompt: ex.prompt, target: ex.target, generation: null } : {}) });
  return ex;
}

/** Whether the current settings are the preset's. */
export function isDocumentQa(settings: ExplainSettings): boolean {
  return sameSettings(settings, { ...documentQaSettingsCopy(), chat: settings.chat });
}
