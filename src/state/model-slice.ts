// What model the user chose, what the worker has loaded, and the browser's model cache.
import type { StateCreator } from 'zustand';
import type { BackendChoice, CachedModel, GpuProbe, LoadProgress, ModelInfo, VariantListing } from '../protocol/engine-api';
import { DEFAULT_MODEL, type ModelChoice, modelKey } from './model-catalog';
import type { AppState } from './store';

export interface Example {
  prompt: string;
  target: string;
  evidence?: string;
}

export interface ModelSlice {
  modelChoice: ModelChoice;
  backend: BackendChoice;
  /** the files of a picked/dropped folder; memory only (never persisted or shared) */
  folderFiles: Array<{ path: string; file: Blob }> | null;
  probe: GpuProbe | null;
  /** what the worker holds now, and the key (choice + backend) it was loaded for */
  loaded: { key: string; info: ModelInfo } | null;
  loadProgress: LoadProgress | null;
  cached: CachedModel[];
  /** a model named by a shared link that needs the user's consent to download */
  pendingModel: ModelChoice | null;
  /** whether the test models are served here (dev and test servers only) */
  fixturesAvailable: boolean;
  /** examples shipped with the chosen bundled model */
  examples: Example[];
  /** the chosen hub model's variants, listed before any download (key: variantsKey) */
  variants: { key: string; listing: VariantListing | null; error: string | null } | null;

  chooseModel(c: ModelChoice, files?: Array<{ path: string; file: Blob }>): void;
  setBackend(b: BackendChoice): void;
}

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
  examples: [],
  variants: null,

  chooseModel: (c, files) => set({ modelChoice: c, folderFiles: c.kind === 'folder' ? (files ?? null) : null, pendingModel: null }),
  setBackend: (backend) => set({ backend }),
});
