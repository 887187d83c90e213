// The steered generation next to the plain one, token by token, each token with its probability;
// hover or focus shows the probability this run gave the other run's token at that step.
import type { ReactNode } from 'react';
import type { SteerRunRecord, SteerTokenRecord } from '../../state/slices/steer-slice';
import { formatPercent } from '../results/score-view';

export interface SteerRunsProps {
  steered: Pick<SteerRunRecord, 'tokens'> & Partial<Pick<SteerRunRecord, 'text' | 'stop'>>;
  unsteered: Pick<SteerRunRecord, 'tokens'> & Partial<Pick<SteerRunRecord, 'text' | 'stop'>>;
  /** still arriving */
  live?: boolean;
}

const shown = (t: SteerTokenRecord): string => (t.eos ? '⟨end⟩' : t.text === '' ? '∅' : t.text.replace(/\n/g, '⏎'));
const STOPS: Record<SteerRunRecord['stop'], string> = { eos: 'ended with its end-of-text token', 'max-new-tokens': 'reached the token limit', 'max-positions': "reached the model's longest input" };

function Run({ name, other, run, otherRun }: { name: 'steered' | 'unsteered'; other: string; run: SteerRunsProps['steered']; otherRun: SteerRunsProps['steered'] }): ReactNode {
  const text = run.text ?? run.tokens.filter((t) => !t.eos).map((t) => t.text).join('');
  return (
    <div className={`atman-steer-run atman-steer-${name}`} data-testid={`steer-run-${name}`} data-text={text} data-tokens={run.tokens.length}>
      <div className="atman-steer-run-head">
        <strong>{name === 'steered' ? 'Steered' : 'Unsteered'}</strong>
        {run.stop ? <span className="atman-muted"> ({STOPS[run.stop]})</span> : null}
      </div>
      <div className="atman-steer-tokens">
        {run.tokens.map((t, i) => {
          const o = otherRun.tokens[i];
          const differs = o !== undefined && (o.text !== t.text || !!o.eos !== !!t.eos);
          const otherWords =
            t.other === null || o === undefined ? `the ${other} run had stopped` : `the ${other} run's token "${shown(o)}" gets ${formatPercent(t.other)} here`;
          const words = `step ${i + 1}: "${shown(t)}", p = ${formatPercent(t.p)} in this run; ${otherWords}`;
          return (
            <span
              key={i}
              className={`atman-steer-token${differs ? ' atman-steer-differs' : ''}${t.eos ? ' atman-steer-eos' : ''}`}
              data-testid="steer-token"
              data-p={t.p}
              data-other={t.other ?? undefined}
              tabIndex={0}
              title={words}
              aria-label={words}
            >
              <span className="atman-steer-token-text">{shown(t)}</span>
              <span className="atman-steer-token-p" aria-hidden="true">
                {formatPercent(t.p)}
              </span>
            </span>
          );
        })}
      </div>
    </div>
  );
}

export function SteerRuns({ steered, unsteered, live }: SteerRunsProps): ReactNode {
  return (
    <div className="atman-steer-runs" data-testid="steer-runs" data-live={live ? 'true' : undefined}>
      <Run name="steered" other="unsteered" run={steered} otherRun={unsteered} />
      <Run name="unsteered" other="steered" run={unsteered} otherRun={steered} />
      <p className="atman-muted atman-steer-note">Tokens where the two runs differ are outlined. Hover or focus a token for the probability the run gave the other run's token at that step.</p>
    </div>
  );
}
