// Selectors as module-level constants, so components subscribe to stable functions.
import { sameSettings } from './settings-compare';
import { modelKey } from './model-catalog';
import type { AppState } from './slices/app-state';

export const selectPrompt = (s: AppState) => s.prompt;
export const selectTarget = (s: AppState) => s.target;
export const selectSettings = (s: AppState) => s.settings;
export const selectSpeed = (s: AppState) => s.speed;
export const selectModelChoice = (s: AppState) => s.modelChoice;
export const selectBackend = (s: AppState) => s.backend;
export const selectProbe = (s: AppState) => s.probe;
export const selectLoaded = (s: AppState) => s.loaded;
export const selectLoadProgress = (s: AppState) => s.loadProgress;
export const selectCached = (s: AppState) => s.cached;
export const selectPendingModel = (s: AppState) => s.pendingModel;
export const selectFixturesAvailable = (s: AppState) => s.fixturesAvailable;
export const selectServedModels = (s: AppState) => s.servedModels;
export const selectExamples = (s: AppState) => s.examples;
export const selectStatus = (s: AppState) => s.status;
export const selectFinishedRuns = (s: AppState) => s.finishedRuns;
export const selectProgress = (s: AppState) => s.progress;
export const selectStartedAt = (s: AppState) => s.startedAt;
export const selectExplanation = (s: AppState) => s.explanation;
export const selectExplanationFromLink = (s: AppState) => s.explanationFromLink;
export const selectError = (s: AppState) => s.error;
export const selectNotices = (s: AppState) => s.notices;
export const selectPlan = (s: AppState) => s.plan;
export const selectGeneration = (s: AppState) => s.generation;
export const selectGenerateCount = (s: AppState) => s.generateCount;
export const selectSelectedUnit = (s: AppState) => s.selectedUnit;
export const selectSelectedTarget = (s: AppState) => s.selectedTarget;
export const selectHoveredUnit = (s: AppState) => s.hoveredUnit;
export const selectBusy = (s: AppState) => s.status !== 'idle' || s.starting;
export const selectStarting = (s: AppState) => s.starting;
/** layer count of the loaded model, when it is the chosen one */
/** whether the loaded model has a chat template; null while unknown (not loaded yet) */
export const selectChatTemplate = (s: AppState): boolean | null =>
  s.loaded && s.loaded.key.startsWith(modelKey(s.modelChoice)) && s.loaded.info.chatTemplate !== undefined ? s.loaded.info.chatTemplate : null;
export const selectLayerCount = (s: AppState) => (s.loaded && s.loaded.key.startsWith(modelKey(s.modelChoice)) ? s.loaded.info.numLayers : null);

/** Why the shown result no longer matches the inputs, or null when it does. */
export function selectStaleReason(s: AppState): string | null {
  const x = s.explanation;
  if (!x) return null;
  if (x.prompt !== s.prompt || x.target !== s.target) return 'stale — prompt or target changed';
  if (s.explanationModelKey !== null && s.explanationModelKey !== modelKey(s.modelChoice)) return 'stale — model changed';
  if (!sameSettings(x.settings, s.settings)) return 'stale — settings changed';
  return null;
}
export const selectVariants = (s: AppState) => s.variants;
