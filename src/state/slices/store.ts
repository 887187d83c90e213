// One zustand store built from slices (model, run, view, compare, steer). What survives a reload —
// texts, settings, model choice and the last result — goes to localStorage, and is checked
// field by field on the way back in (bad fields: defaults, and a notice).
import { createJSONStorage, persist, type PersistStorage, type StateStorage } from 'zustand/middleware';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { type ModelChoice, downloadSite, modelKey, needsDownloadConsent } from '../model-catalog';
import { type ModelSlice, createModelSlice } from './model-slice';
import { type RunSlice, createRunSlice } from './run-slice';
import { LIMITS, sanitizeBackend, sanitizeExplanation, sanitizeInt, sanitizeModelChoice, sanitizeSettings, sanitizeText } from '../sanitize';
import { type ViewSlice, createViewSlice } from './view-slice';
import { type CompareSlice, type ComparePersisted, createCompareSlice, partializeCompare, restoreCompare } from './compare-slice';
import { type SteerSlice, type SteerPersisted, createSteerSlice, partializeSteer, restoreSteer } from './steer-slice';
import { type ImageSlice, type PersistedImage, createImageSlice, partializeImage, restoreImage } from './image-slice';
import type { AppState, AppStore } from './app-state';
export type { AppState, AppStore } from './app-state';

export const STORAGE_KEY = 'atman.app';
export const STORAGE_VERSION = 1;

export type Persisted = Pick<AppState, 'modelChoice' | 'pendingModel' | 'backend' | 'prompt' | 'target' | 'settings' | 'generateCount' | 'explanation' | 'explanationModelKey'> &
  ComparePersisted &
  SteerPersisted & { imageState?: PersistedImage };

function partialize(s: AppState): Persisted {
  return {
    // A folder's files are gone after a reload; remember the model only when it can be reloaded.
    modelChoice: s.modelChoice.kind === 'folder' ? { kind: 'bundled', id: 'atman-demo-facts' } : s.modelChoice,
    // A download a link asked for and the user has not confirmed stays unconfirmed across a reload.
    pendingModel: s.modelChoice.kind === 'folder' ? null : s.pendingModel,
    backend: s.backend,
    prompt: s.prompt,
    target: s.target,
    settings: s.settings,
    generateCount: s.generateCount,
    explanation: s.explanation,
    explanationModelKey: s.explanationModelKey,
    ...partializeCompare(s),
    ...partializeSteer(s),
    ...partializeImage(s),
  };
}

/** Saved state, checked field by field; also used by tests. */
export function restore(saved: unknown, current: AppState): Partial<AppState> {
  if (typeof saved !== 'object' || saved === null) return {};
  const s = saved as Record<string, unknown>;
  const problems: string[] = [];
  const explanation = s.explanation == null ? null : sanitizeExplanation(s.explanation, problems);
  const modelChoice = sanitizeModelChoice(s.modelChoice, problems, { allowFixtures: true });
  const out: Partial<AppState> = {
    modelChoice,
    pendingModel: restorePending(s, modelChoice),
    backend: sanitizeBackend(s.backend, problems),
    prompt: sanitizeText(s.prompt, 'saved prompt', LIMITS.prompt, current.prompt, problems),
    target: sanitizeText(s.target, 'saved target', LIMITS.target, current.target, problems),
    settings: sanitizeSettings(s.settings, problems),
    generateCount: sanitizeInt(s.generateCount, 1, LIMITS.generate, current.generateCount, 'number of tokens to generate', problems),
    explanation,
    explanationModelKey: explanation && typeof s.explanationModelKey === 'string' ? s.explanationModelKey : explanation ? modelKey(modelChoice) : null,
  };
  Object.assign(out, restoreCompare(s, problems), restoreSteer(s, problems));
  Object.assign(out, restoreImage(s, problems));
  if (problems.length) out.notices = [...current.notices, ...problems.map((p) => `Saved state: ${p}`)];
  return out;
}

/**
 * The saved unconfirmed download, only while it is the saved model. A state saved before this
 * field existed: a model address outside this site counts as unconfirmed (the safe reading).
 */
function restorePending(s: Record<string, unknown>, modelChoice: ModelChoice): ModelChoice | null {
  if (!Object.hasOwn(s, 'pendingModel')) return modelChoice.kind === 'url' && downloadSite(modelChoice)?.place === 'outside' ? modelChoice : null;
  if (s.pendingModel === null || s.pendingModel === undefined) return null;
  const pending = sanitizeModelChoice(s.pendingModel, [], { allowFixtures: true });
  return modelKey(pending) === modelKey(modelChoice) && needsDownloadConsent(modelChoice) ? modelChoice : null;
}

/** localStorage that never throws (private mode, quota): the app still works, it just forgets. */
export function safeLocalStorage(): StateStorage {
  const ls = (): Storage | null => {
    try {
      return globalThis.localStorage ?? null;
    } catch {
      return null;
    }
  };
  return {
    getItem: (k) => {
      try {
        return ls()?.getItem(k) ?? null;
      } catch {
        return null;
      }
    },
    setItem: (k, v) => {
      try {
        ls()?.setItem(k, v);
      } catch {
        // quota exceeded: keep going without saving
      }
    },
    removeItem: (k) => {
      try {
        ls()?.removeItem(k);
      } catch {
        // ignore
      }
    },
  };
}

export function createAppStore(storage: StateStorage = safeLocalStorage()): AppStore {
  const json = createJSONStorage<Persisted>(() => storage) as PersistStorage<Persisted>;
  return createStore<AppState>()(
    persist(
      (...a) => ({ ...createModelSlice(...a), ...createRunSlice(...a), ...createViewSlice(...a), ...createCompareSlice(...a), ...createSteerSlice(...a), ...createImageSlice(...a) }),
      {
        name: STORAGE_KEY,
        version: STORAGE_VERSION,
        storage: {
          // A corrupt entry (not JSON) reads as nothing saved, instead of an exception.
          getItem: (name) => {
            try {
              return json.getItem(name);
            } catch {
              return null;
            }
          },
          // Quota or a blocked storage: the app keeps working, it just forgets.
          setItem: (name, value) => {
            try {
              return json.setItem(name, value);
            } catch {
              return undefined;
            }
          },
          removeItem: (name) => {
            try {
              return json.removeItem(name);
            } catch {
              return undefined;
            }
          },
        },
        partialize,
        // Older or newer saved shapes: keep nothing rather than guess.
        migrate: () => ({}) as Persisted,
        merge: (saved, current) => ({ ...current, ...restore(saved, current) }),
      },
    ),
  );
}
