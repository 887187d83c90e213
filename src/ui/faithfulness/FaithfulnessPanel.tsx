// The shown result's faithfulness, under the results: connected to the store.
import type { ReactNode } from 'react';
import { selectPrimaryFaithfulness, selectTask, selectTaskSide } from '../../state/slices/compare-slice';
import { selectBusy, selectExplanation, selectStaleReason } from '../../state/selectors';
import { useActions, useApp } from '../app/app-context';
import { METHOD_LABELS } from '../compare/method-words';
import { FaithfulnessBlock } from './FaithfulnessBlock';

export function FaithfulnessPanel(): ReactNode {
  const x = useApp(selectExplanation);
  const f = useApp(selectPrimaryFaithfulness);
  const busy = useApp(selectBusy);
  const task = useApp(selectTask);
  const side = useApp(selectTaskSide);
  const stale = useApp(selectStaleReason);
  const actions = useActions();
  if (!x) return null;
  return (
    <section className="panel atman-faith-panel" aria-labelledby="faith-heading">
      <h2 id="faith-heading">Faithfulness of this result</h2>
      {stale ? <p className="atman-muted">Measured on the result shown ({stale.replace(/^stale — /, '')} since).</p> : null}
      <FaithfulnessBlock
        summary={f}
        canMeasure
        busy={busy}
        running={task === 'faithfulness' && side === 'primary'}
        onMeasure={() => void actions.measureFaithfulness('primary')}
        onCancel={() => actions.cancel()}
        testId="faithfulness-primary"
        title={`${METHOD_LABELS[x.method ?? 'atman']} ranking`}
      />
    </section>
  );
}
