// The selected unit: label, score, rank, per-target-token relevance and probabilities before and
// after suppressing it, and the factors its pass applied (conceptual suppression's drag-along).
import type { ReactNode } from 'react';
import type { Explanation } from '../../runtime/schema';
import { formatPercent, formatScore, probabilities, ranks, sequenceProbability, targetTokens, tokenLabel, unitLabel, unitScores } from './score-view';

export interface UnitDetailsProps {
  explanation: Explanation;
  unit: number | null;
  /** the target token whose explanation is shown (null: the whole target) */
  targetIndex?: number | null;
  /** clicking a target-token row selects that token */
  onSelectTarget?: (t: number | null) => void;
}

export function UnitDetails({ explanation: x, unit, targetIndex = null, onSelectTarget }: UnitDetailsProps): ReactNode {
  const u = unit !== null ? x.units[unit] : undefined;
  if (unit === null || !u) {
    return (
      <section className="atman-unit-details" data-testid="unit-details">
        <p className="atman-muted">Select a unit (click it, or focus it and press Enter) to see how suppressing it changes each target token.</p>
      </section>
    );
  }
  const scores = unitScores(x, targetIndex);
  const rank = ranks(scores);
  const probs = probabilities(x, unit);
  const seq = sequenceProbability(x, unit);
  const targets = targetTokens(x);
  const own = new Set(u.positions);
  const perToken = x.settings.targetGranularity === 'token';

  return (
    <section className="atman-unit-details" data-testid="unit-details" aria-label={`details of unit '${unitLabel(u.label)}'`}>
      <h3>
        unit <q className="atman-unit-name">{unitLabel(u.label)}</q>
      </h3>
      <dl className="atman-facts">
        <dt>score{targetIndex === null ? '' : ` for target token ${JSON.stringify(targets[targetIndex] ? tokenLabel(targets[targetIndex]) : '')}`}</dt>
        <dd data-testid="unit-score">{formatScore(scores[unit]!, 4)}</dd>
        <dt>rank</dt>
        <dd data-testid="unit-rank">
          {rank[unit]} of {scores.length}
        </dd>
        {targetIndex !== null ? (
          <>
            <dt>score over the whole target</dt>
            <dd>{formatScore(u.score, 4)}</dd>
          </>
        ) : null}
        <dt>P(whole target)</dt>
        <dd data-testid="unit-sequence-probability">
          {formatPercent(seq.before)} → {formatPercent(seq.after)}
        </dd>
      </dl>
      <table className="atman-table" data-testid="unit-target-table">
        <caption>Per target token: R = CE(suppressed) − CE(unperturbed); positive means this unit is evidence for the token.</caption>
        <thead>
          <tr>
            <th scope="col">target token</th>
            <th scope="col">R</th>
            <th scope="col">P before → after</th>
          </tr>
        </thead>
        <tbody>
          {probs.map((p) => {
            const tok = targets[p.t];
            const label = tok ? tokenLabel(tok) : String(p.t);
            return (
              <tr key={p.t} data-target={p.t} className={p.t === targetIndex ? 'atman-selected' : undefined}>
                <th scope="row">
                  {perToken && onSelectTarget ? (
                    <button type="button" className="atman-link" onClick={() => onSelectTarget(p.t === targetIndex ? null : p.t)} aria-pressed={p.t === targetIndex}>
                      {label}
                    </button>
                  ) : (
                    label
                  )}
                </th>
                <td data-testid="r">{formatScore(p.r, 4)}</td>
                <td data-testid="p">
                  <span data-testid="p-before">{formatPercent(p.before)}</span> → <span data-testid="p-after">{formatPercent(p.after)}</span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h4>Factors its pass applied</h4>
      {u.factors.length === 0 ? (
        <p className="atman-muted">none (no column was changed)</p>
      ) : (
        <ul className="atman-factors" data-testid="unit-factors">
          {u.factors.map(([pos, phi]) => {
            const tok = x.tokens[pos];
            const dragged = !own.has(pos);
            return (
              <li key={pos} data-pos={pos} className={dragged ? 'atman-dragged' : undefined}>
                <span className="atman-factor-token">{tok ? tokenLabel(tok) : `#${pos}`}</span> <span className="atman-muted">(position {pos})</span> ×{' '}
                {Number(phi.toPrecision(3))}
                {dragged ? <span className="atman-badge"> dragged along (conceptual suppression)</span> : null}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
