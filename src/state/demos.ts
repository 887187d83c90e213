// What a demo button does beyond filling the texts: the settings that show its point, and a
// clean page (no result, comparison, measurement or steering left from another model or text).
import { DEFAULT_SETTINGS, type ExplainSettings, type Granularity } from '../core/types';
import type { AppState, AppStore } from './slices/app-state';

/** The default settings with the demo's units; the chat template stays as the user set it. */
export function demoSettings(current: ExplainSettings, granularity: Granularity): ExplainSettings {
  return { ...structuredClone(DEFAULT_SETTINGS), granularity: structuredClone(granularity), chat: current.chat };
}

/** Drops every result on the page: they belong to another model, prompt or picture. */
export function clearResults(store: AppStore): void {
  const patch: Partial<AppState> = {
    explanation: null,
    explanationModelKey: null,
    explanationFromLink: false,
    explanationImageKey: null,
    selectedUnit: null,
    selectedTarget: null,
    hoveredUnit: null,
    progress: null,
    comparison: null,
    compareError: null,
    faithfulness: { primary: null, comparison: null },
    steerUnits: [],
    steerResult: null,
    generation: null,
    imageRegions: [],
    brush: null,
  };
  store.setState(patch);
}
