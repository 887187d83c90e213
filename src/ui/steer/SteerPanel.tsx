// Steering: pick parts of the prompt (click them, or type a text), give each a factor, and
// generate with the factors held next to the plain generation. Connected to the store.
import { useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { selectTask } from '../../state/slices/compare-slice';
import { selectBusy, selectExplanation, selectPlan, selectPrompt, selectSelectedUnit } from '../../state/selectors';
import {
  MAX_STEER_TOKENS,
  STEER_FACTOR_MAX,
  selectSteerLive,
  selectSteerMaxNewTokens,
  selectSteerResult,
  selectSteerUnits,
  steerUnitProblem,
} from '../../state/slices/steer-slice';
import { useActions, useApp, useServices } from '../app/app-context';
import { factorWords, pickableUnits } from './steer-pick';
import { SteerRuns } from './SteerRuns';
import './steer.css';

export function SteerPanel(): ReactNode {
  const prompt = useApp(selectPrompt);
  const x = useApp(selectExplanation);
  const plan = useApp(selectPlan);
  const units = useApp(selectSteerUnits);
  const maxNew = useApp(selectSteerMaxNewTokens);
  const result = useApp(selectSteerResult);
  const live = useApp(selectSteerLive);
  const busy = useApp(selectBusy);
  const task = useApp(selectTask);
  const selectedUnit = useApp(selectSelectedUnit);
  const { store } = useServices();
  const actions = useActions();
  const st = store.getState();
  const [typed, setTyped] = useState('');
  // Folded away until used: the page is long, and the panel opens by itself once it has content.
  const hasContent = units.length > 0 || result !== null;
  const [open, setOpen] = useState(hasContent);
  // Content that arrives later (a share link is applied after the first render, a reload's saved
  // steering) opens the panel too; closing it by hand stays closed until the content changes.
  useEffect(() => {
    if (hasContent) setOpen(true);
  }, [hasContent, result]);

  // The shown result's units when it is about this prompt, else the plan's.
  const source = x && x.prompt === prompt ? x : plan && plan.tokens.some((t) => t.role === 'prompt') ? plan : null;
  const picks = useMemo(() => (source ? pickableUnits(prompt, source) : []), [source, prompt]);
  const selectedPick = x && x.prompt === prompt && selectedUnit !== null ? picks.find((p) => p.unit === selectedUnit) : undefined;
  const factorOf = (span: [number, number]) => units.find((u) => u.span && u.span[0] === span[0] && u.span[1] === span[1])?.factor;
  const running = task === 'steer';
  const typedOk = typed !== '' && prompt.includes(typed);

  return (
    <details
      className="panel atman-steer"
      data-testid="steer-panel"
      data-state={running ? 'running' : result ? 'done' : 'empty'}
      open={open || running}
      onToggle={(e) => setOpen(e.currentTarget.open)}
    >
      <summary data-testid="steer-open">
        <h2 id="steer-heading">Steer the generation</h2>
      </summary>
      <p className="help">
        Hold a factor on parts of the prompt while the model generates: 0 makes the model ignore the part, below 1 weakens it, above 1 amplifies it. The steered
        generation is shown next to the plain one.
      </p>
      {picks.length > 0 ? (
        <div className="atman-steer-pick" role="group" aria-label="parts of the prompt to steer" data-testid="steer-pick">
          {picks.map((p) => {
            const f = factorOf(p.span);
            return (
              <button
                key={`${p.span[0]}-${p.span[1]}`}
                type="button"
                className={`atman-steer-chip${f !== undefined ? ' atman-steer-on' : ''}`}
                data-testid="steer-pick-unit"
                data-unit={p.unit}
                aria-pressed={f !== undefined}
                disabled={busy}
                title={f !== undefined ? `steered with factor ${f} (click to remove)` : 'click to steer this part'}
                onClick={() => st.toggleSteerUnit({ span: p.span, label: p.label })}
              >
                {p.label}
                {f !== undefined ? <span className="atman-steer-chip-factor"> ×{f}</span> : null}
              </button>
            );
          })}
        </div>
      ) : (
        <p className="atman-muted">Explain (or load the model) to pick parts of the prompt by clicking them, or type a piece of the prompt below.</p>
      )}
      <div className="row">
        {selectedPick ? (
          <button type="button" data-testid="steer-add-selected" disabled={busy || factorOf(selectedPick.span) !== undefined} onClick={() => st.toggleSteerUnit({ span: selectedPick.span, label: selectedPick.label })}>
            Steer the unit selected in the heatmap ("{selectedPick.label.length > 30 ? `${selectedPick.label.slice(0, 29)}…` : selectedPick.label}")
          </button>
        ) : null}
        <label>
          Text{' '}
          <input data-testid="steer-text" value={typed} placeholder="a piece of the prompt" spellCheck={false} onChange={(e) => setTyped(e.target.value)} />
        </label>
        <button
          type="button"
          data-testid="steer-add-text"
          disabled={busy || !typedOk}
          title={typed !== '' && !typedOk ? 'This text does not occur in the prompt' : undefined}
          onClick={() => {
            st.toggleSteerUnit({ text: typed, label: typed });
            setTyped('');
          }}
        >
          Add
        </button>
      </div>
      {units.length > 0 ? (
        <ul className="atman-steer-units" data-testid="steer-units">
          {units.map((u, i) => {
            const problem = steerUnitProblem(u, prompt);
            return (
              <li key={`${u.span?.join('-') ?? u.text}`} data-testid="steer-unit" data-factor={u.factor} className={problem ? 'atman-steer-problem' : undefined}>
                <span className="atman-steer-label">{u.span ? u.label : `every "${u.text}"`}</span>
                <input
                  type="range"
                  data-testid="steer-factor"
                  aria-label={`factor for ${u.label}`}
                  min={0}
                  max={STEER_FACTOR_MAX}
                  step={0.05}
                  value={u.factor}
                  disabled={busy}
                  onChange={(e) => st.setSteerFactor(i, Number(e.target.value))}
                />
                <input
                  type="number"
                  className="narrow"
                  data-testid="steer-factor-number"
                  aria-label={`factor for ${u.label}, as a number`}
                  min={0}
                  max={STEER_FACTOR_MAX}
                  step={0.05}
                  value={u.factor}
                  disabled={busy}
                  onChange={(e) => e.target.value !== '' && st.setSteerFactor(i, Number(e.target.value))}
                />
                <span className="atman-muted">{factorWords(u.factor)}</span>
                <button type="button" className="link-button" disabled={busy} aria-label={`stop steering ${u.label}`} onClick={() => st.removeSteerUnit(i)}>
                  remove
                </button>
                {problem ? <span className="atman-steer-problem-text"> {problem}</span> : null}
              </li>
            );
          })}
        </ul>
      ) : null}
      <div className="row">
        <label>
          <input
            type="number"
            className="narrow"
            data-testid="steer-max-tokens"
            aria-label="tokens to generate"
            min={1}
            max={MAX_STEER_TOKENS}
            value={maxNew}
            onChange={(e) => st.setSteerMaxNewTokens(Number(e.target.value))}
          />{' '}
          tokens (greedy)
        </label>
        <button type="button" className="primary" data-testid="steer-generate" disabled={busy || units.length === 0} onClick={() => void actions.steerGenerate()}>
          {running ? 'Generating…' : 'Generate steered'}
        </button>
        {running ? (
          <button type="button" data-testid="steer-cancel" onClick={() => actions.cancel()}>
            Cancel
          </button>
        ) : null}
      </div>
      {live ? (
        <SteerRuns steered={{ tokens: live.steered }} unsteered={{ tokens: live.unsteered }} live />
      ) : result ? (
        <>
          {result.prompt !== prompt ? (
            <p className="atman-steer-stale" data-testid="steer-stale">
              This generation was made for another prompt; press Generate steered again.
            </p>
          ) : null}
          <p className="atman-muted" data-testid="steer-summary">
            {result.units.map((u) => `"${u.label.length > 40 ? `${u.label.slice(0, 39)}…` : u.label}" ×${u.factor}`).join(', ')}; {result.mode}, {result.seconds.toFixed(1)} s
          </p>
          <SteerRuns steered={result.steered} unsteered={result.unsteered} />
        </>
      ) : null}
    </details>
  );
}
