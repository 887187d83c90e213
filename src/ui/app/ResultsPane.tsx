// The last result: the results view, marked stale when the inputs changed since, or as coming
// from a shared link (with Recompute).
import { useMemo, type ReactNode } from 'react';
import { selectExplanation, selectExplanationFromLink, selectHoveredUnit, selectPlan, selectSelectedTarget, selectSelectedUnit, selectStaleReason, selectStatus } from '../../state/selectors';
import { ResultsView } from '../results/ResultsView';
import { useActions, useApp, useServices } from './app-context';

export function ResultsPane(): ReactNode {
  const x = useApp(selectExplanation);
  const stale = useApp(selectStaleReason);
  const fromLink = useApp(selectExplanationFromLink);
  const selectedUnit = useApp(selectSelectedUnit);
  const selectedTarget = useApp(selectSelectedTarget);
  const plan = useApp(selectPlan);
  const status = useApp(selectStatus);
  const hoveredUnit = useApp(selectHoveredUnit);
  const { store } = useServices();
  const actions = useActions();
  const view = store.getState();

  // The plan's drag-along for the hovered unit, when the plan has the same units as the result.
  const dragAlong = useMemo(() => {
    if (!x || !plan || hoveredUnit === null || stale) return undefined;
    const same = plan.units.length === x.units.length && plan.units.every((u, i) => u.label === x.units[i]!.label);
    return same ? plan.units[hoveredUnit]?.factors : undefined;
  }, [x, plan, hoveredUnit, stale]);

  if (!x) {
    return (
      <section className="results-pane" data-testid="result" data-state="empty" aria-label="results">
        <p className="muted">Click Explain to see which parts of the prompt the target depends on.</p>
      </section>
    );
  }
  return (
    <section
      className={`results-pane${stale ? ' stale' : ''}`}
      data-testid="result"
      data-state={stale ? 'stale' : 'done'}
      data-from-link={fromLink ? 'true' : undefined}
      data-explanation={JSON.stringify(x)}
      aria-label="results"
      aria-busy={status !== 'idle'}
    >
      {stale || fromLink ? (
        <p className="result-note" data-testid={stale ? 'stale' : 'from-link'}>
          {stale ? <strong>{stale}</strong> : <span>Shown from the shared link, not recomputed.</span>}{' '}
          <button type="button" data-testid="recompute" onClick={() => void actions.explain()} disabled={status !== 'idle'}>
            Recompute
          </button>
        </p>
      ) : null}
      <ResultsView
        explanation={x}
        selectedUnit={selectedUnit}
        onSelectUnit={view.selectUnit}
        selectedTarget={selectedTarget}
        onSelectTarget={view.selectTarget}
        onHoverUnit={view.hover}
        dragAlong={dragAlong}
      />
    </section>
  );
}
