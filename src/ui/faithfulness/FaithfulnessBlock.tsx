// One result's faithfulness: the Measure button, AOPC / ABPC against the random floor with what
// they mean, and the curves. Props in, callbacks out.
import { useMemo } from 'react';
import type { ReactNode } from 'react';
import type { FaithfulnessSummary } from '../../state/faithfulness-summary';
import { FaithfulnessChart } from './FaithfulnessChart';
import type { FaithfulnessChartData } from './faithfulness-chart';
import './faithfulness.css';

export interface FaithfulnessBlockProps {
  summary: FaithfulnessSummary | null;
  /** a result to measure exists */
  canMeasure: boolean;
  /** some run is going on (this one or another) */
  busy: boolean;
  /** this block's measurement is the one running */
  running: boolean;
  onMeasure: () => void;
  onCancel?: () => void;
  /** data-testid of the block; its parts use it as a prefix */
  testId: string;
  /** e.g. the method, above the chart */
  title?: string;
}

export const FAITHFULNESS_MEANING =
  'AOPC: how much the target probability drops, on average, as the top-ranked units are removed one by one (higher: the ranking finds what the target needs). ' +
  'ABPC: the average gap between the insertion curve (only the top-k units kept) and the deletion curve (the top-k removed); higher is more faithful, and a random ranking scores about the random ABPC. ' +
  'Removed units get factor 0, the same for every method.';

/** A signed difference of probabilities: the sign is the point. */
const fmt = (v: number | null): string => (v === null || !Number.isFinite(v) ? '—' : (v >= 0 ? '+' : '') + v.toFixed(3));

/** A probability: no sign, and a small one still readable. */
export const formatProbability = (v: number | null): string =>
  v === null || !Number.isFinite(v) ? '—' : v >= 0.001 ? v.toFixed(3) : v === 0 ? '0' : v.toExponential(1);

function FaithNumber({ id, label, value, hint, probability = false }: { id: string; label: string; value: number | null; hint: string; probability?: boolean }): ReactNode {
  return (
    <div className="atman-faith-number" title={hint}>
      <dt>{label}</dt>
      <dd data-testid={id} data-value={value === null ? undefined : String(value)}>
        {probability ? formatProbability(value) : fmt(value)}
      </dd>
    </div>
  );
}

export function FaithfulnessBlock(props: FaithfulnessBlockProps): ReactNode {
  const { summary: f, canMeasure, busy, running, onMeasure, onCancel, testId, title } = props;
  const data = useMemo<FaithfulnessChartData | null>(
    () => (f ? { ks: f.ks, unitCount: f.unitCount, deletion: f.deletion, insertion: f.insertion, random: f.random, ...(title ? { title } : {}) } : null),
    [f, title],
  );
  const margin = f && f.randomAbpc !== null ? f.abpc - f.randomAbpc : null;

  return (
    <div className="atman-faith" data-testid={testId} data-state={running ? 'running' : f ? 'done' : 'empty'}>
      <div className="atman-faith-actions">
        <button type="button" data-testid={`${testId}-measure`} onClick={onMeasure} disabled={busy || !canMeasure}>
          {running ? 'Measuring…' : f ? 'Measure again' : 'Measure faithfulness'}
        </button>
        {running && onCancel ? (
          <button type="button" data-testid={`${testId}-cancel`} onClick={onCancel}>
            Cancel
          </button>
        ) : null}
        {!f && !running ? <span className="atman-muted">Deletion and insertion curves of this ranking: (n + 1) × 2 passes, and the same for 3 random rankings.</span> : null}
      </div>
      {f && data ? (
        <>
          <dl className="atman-faith-numbers">
            <FaithNumber id={`${testId}-aopc`} label="AOPC" value={f.aopc} hint="mean over k of (p0 − deletion_k)" />
            <FaithNumber id={`${testId}-abpc`} label="ABPC" value={f.abpc} hint="mean over k of (insertion_k − deletion_k)" />
            <FaithNumber id={`${testId}-random-abpc`} label="random ABPC" value={f.randomAbpc} hint={`the same for ${f.random?.runs ?? 0} random rankings`} />
            <FaithNumber id={`${testId}-p0`} label="p(target)" value={f.p0} hint="the target's probability with nothing removed" probability />
            <FaithNumber id={`${testId}-deletion-area`} label="deletion area" value={f.deletionAuc} hint="mean over k of deletion_k: the area under the deletion curve (lower: removing the top units hurts sooner)" probability />
            <FaithNumber id={`${testId}-insertion-area`} label="insertion area" value={f.insertionAuc} hint="mean over k of insertion_k: the area under the insertion curve (higher: the top units alone bring the target back sooner)" probability />
          </dl>
          <p className="atman-faith-verdict" data-testid={`${testId}-verdict`}>
            {margin === null
              ? 'No random floor was measured.'
              : margin > 0
                ? `ABPC is ${margin.toFixed(3)} above the random floor: the ranking is more faithful than chance.`
                : `ABPC is not above the random floor (${margin.toFixed(3)}): the ranking does no better than chance here.`}
          </p>
          <FaithfulnessChart data={data} testId={`${testId}-chart`} />
        </>
      ) : null}
      <p className="atman-faith-meaning atman-muted">{FAITHFULNESS_MEANING}</p>
    </div>
  );
}
