// Asks the engine for the units and their drag-along (plan, no passes) a moment after the
// inputs stop changing, once the chosen model is loaded.
import { useEffect } from 'react';
import { selectLoaded, selectPrompt, selectSettings, selectStatus, selectTarget } from '../../state/selectors';
import { useActions, useApp } from './app-context';

export function usePlanPreview(delayMs = 300): void {
  const prompt = useApp(selectPrompt);
  const target = useApp(selectTarget);
  const settings = useApp(selectSettings);
  const loaded = useApp(selectLoaded);
  const status = useApp(selectStatus);
  const actions = useActions();
  useEffect(() => {
    if (status !== 'idle') return;
    const t = setTimeout(() => void actions.refreshPlan(), delayMs);
    return () => clearTimeout(t);
  }, [prompt, target, settings, loaded, status, actions, delayMs]);
}
