// Explain and Cancel, with passes done / total, elapsed time and an estimate of what is left.
import { useEffect, useState, type ReactNode } from 'react';
import { selectFinishedRuns, selectProgress, selectStartedAt, selectStarting, selectStatus } from '../../state/selectors';
import { useActions, useApp } from './app-context';
import { selectTaskWords } from '../../state/slices/compare-slice';

const secs = (s: number): string => (s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

export function RunBar(): ReactNode {
  const status = useApp(selectStatus);
  const progress = useApp(selectProgress);
  const startedAt = useApp(selectStartedAt);
  const finished = useApp(selectFinishedRuns);
  const task = useApp(selectTaskWords);
  const starting = useApp(selectStarting);
  const actions = useActions();
  const [now, setNow] = useState(() => performance.now());
  const running = status === 'explaining' || status === 'cancelling';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(performance.now()), 250);
    return () => clearInterval(t);
  }, [running]);

  const done = progress?.done ?? 0;
  const total = progress?.total ?? 0;
  const elapsed = running && startedAt !== null ? (now - startedAt) / 1000 : (progress?.elapsedSeconds ?? 0);
  const left = done > 0 && total > done ? ((progress!.elapsedSeconds / done) * (total - done)) : null;
  const words =
    starting
      ? 'Starting…'
      : status === 'loading'
      ? 'Loading the model…'
      : status === 'generating'
        ? `Generating…${total ? ` (${done} of ${total} tokens)` : ''}`
        : status === 'cancelling'
          ? `Cancelling after the current batch… (${done} of ${total} passes)`
          : status === 'explaining'
            ? total
              ? `Passes ${done} of ${total}, ${secs(elapsed)} elapsed${left !== null ? `, about ${secs(left)} left` : ''}`
              : 'Starting…'
            : progress && total
              ? `Done: ${total} passes in ${secs(progress.elapsedSeconds)}`
              : '';

  return (
    <section className="run-bar" aria-label="run" data-testid="run-bar" data-status={starting ? 'starting' : status} data-finished-runs={finished}>
      {/* Explain during a run cancels that run and explains the inputs as they are now (actions.explain). */}
      <button type="button" className="primary" data-testid="explain" onClick={() => void actions.explain()} disabled={status === 'cancelling' || starting}>
        Explain
      </button>
      <button type="button" data-testid="cancel" onClick={() => actions.cancel()} disabled={!(status === 'explaining' || status === 'generating' || status === 'loading')}>
        Cancel
      </button>
      <progress
        data-testid="progress"
        aria-label="passes done"
        max={Math.max(1, total)}
        value={done}
        data-done={progress ? String(done) : undefined}
        data-total={progress ? String(total) : undefined}
      />
      <span className="muted" data-testid="status" aria-live="polite">
        {task && status !== 'idle' && status !== 'loading' ? `${task}: ` : ''}
        {words}
      </span>
    </section>
  );
}
