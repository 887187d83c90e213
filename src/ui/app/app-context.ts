// The store and the actions reach components through one context (tests mount their own).
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { Actions } from '../../state/actions';
import type { AppState, AppStore } from '../../state/slices/store';

export interface AppServices {
  store: AppStore;
  actions: Actions;
  /** test hook: make the worker crash (only where the engine client offers it) */
  crashEngine?: () => void;
}

export const AppContext = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const s = useContext(AppContext);
  if (!s) throw new Error('AppContext is missing: mount components inside <AppContext.Provider>.');
  return s;
}

export const useApp = <T,>(selector: (s: AppState) => T): T => useStore(useServices().store, selector);
export const useActions = (): Actions => useServices().actions;
