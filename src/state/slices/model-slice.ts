// What model the user chose, what the worker has loaded, and the browser's model cache.
import type { StateCreator } from 'zustand';
import type { BackendChoice, CachedModel, GpuProbe, LoadProgress, ModelInfo, VariantListing } from '../../protocol/engine-api';
import { DEFAULT_MODEL, type ModelChoice, modelKey } from '../model-catalog';
import type { AppState } from './app-state';
import type { Example, ModelSlice } from './app-state';
export type { Example, ModelSlice } from './app-state';

/** What a variant listing answers for: the choice (its dtype included) on a backend. */
export const variantsKey = (c: ModelChoice, backend: BackendChoice): string => `${modelKey(c)}|${backend}`;

export const createModelSlice: StateCreator<AppState, [], [], ModelSlice> = (set) => ({
  modelChoice: { ...DEFAULT_MODEL },
  backend: 'auto',
  folderFiles: null,
  probe: null,
  loaded: null,
  loadProgress: null,
  cached: [],
  pendingModel: null,
  fixturesAvailable: false,
  servedModels: [],
  examples: [],
  variants: null,

  chooseModel: (c, files) => set({ modelChoice: c, folderFiles: c.kind === 'folder' ? (files ?? null) : null, pendingModel: null }),
  setBackend: (backend) => set({ backend }),
});
