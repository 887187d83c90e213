// Compare the shown AtMan result with a second method over the same units, side by side, with one
// shared colour scale or each side normalised to its own largest score. Connected to the store.
import { useEffect, useMemo, useState } from 'react';
import { NUMBER_RULES, allowedRange, numberProblem, parseDecimal } from '../../core/numbers';
import type { ReactNode } from 'react';
import {
  COMPARE_METHODS,
  type CompareMethod,
  comparisonMismatch,
  isAttentionMethod,
  selectCompareAttention,
  selectCompareError,
  selectCompareMethod,
  selectCompareScale,
  selectCompareSteps,
  selectComparison,
  selectComparisonFaithfulness,
  selectPrimaryFaithfulness,
  selectTask,
  selectTaskSide,
} from '../../state/slices/compare-slice';
import { selectBusy, selectExplanation, selectLayerCount, selectSelectedUnit } from '../../state/selectors';
import { useActions, useApp, useServices } from '../app/app-context';
import { downloadBlob, exportJson, fileStem } from '../results/export-view';
import { colourScale, maxAbs } from '../results/score-view';
import { CompareSide } from './CompareSide';
import { METHOD_HELP, METHOD_LABELS } from './method-words';
import './compare.css';

const ERROR_HINTS: Record<string, string> = {
  FUSED_ATTENTION_NO_PROBS: 'Compare with occlusion (unit deleted) instead: it needs no attention probabilities.',
  FUSED_ATTENTION_MULTIPLICATIVE: 'Switch the mode to log-additive in the settings.',
};

/** "all" or a comma-separated list of indices below `count`; null = all, undefined = unreadable. */
export function parseIndexList(text: string, count: number | null): number[] | null | undefined {
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'all') return null;
  const parts = t.split(/[\s,]+/).filter(Boolean);
  if (!parts.every((p) => /^\d{1,4}$/.test(p))) return undefined;
  const list = [...new Set(parts.map(Number))].sort((a, b) => a - b);
  if (count !== null && list.some((i) => i >= count)) return undefined;
  return list;
}

function IndexListInput({ label, value, count, onChange, testId }: { label: string; value: number[] | null; count: number | null; onChange: (v: number[] | null) => void; testId: string }): ReactNode {
  const [text, setText] = useState(value ? value.join(',') : 'all');
  const parsed = parseIndexList(text, count);
  return (
    <label>
      {label}{' '}
      <input
        data-testid={testId}
        className="narrow"
        value={text}
        aria-invalid={parsed === undefined}
        onChange={(e) => {
          setText(e.target.value);
          const p = parseIndexList(e.target.value, count);
          if (p !== undefined) onChange(p);
        }}
      />
      {parsed === undefined ? <span className="atman-compare-invalid"> {`"all" or numbers${count !== null ? ` below ${count}` : ''}, e.g. 0,2`}</span> : null}
    </label>
  );
}

/** Integrated gradients' steps: a whole number in the rule's range; the store keeps the last good one. */
function StepsInput({ value, onChange, disabled }: { value: number; onChange: (n: number) => void; disabled: boolean }): ReactNode {
  const [text, setText] = useState(String(value));
  // a link or a reload sets the steps after the first render
  useEffect(() => setText((t) => (parseDecimal(t, true) === value ? t : String(value))), [value]);
  const r = NUMBER_RULES.steps;
  const problem = numberProblem(parseDecimal(text, true), r, 'The number of integration steps');
  return (
    <fieldset className="row atman-compare-steps" disabled={disabled} data-testid="compare-steps-options">
      <legend className="visually-hidden">integrated gradients options</legend>
      <label>
        Steps{' '}
        <input
          type="number"
          data-testid="compare-steps"
          className="narrow"
          min={r.min}
          max={r.max}
          step={1}
          value={text}
          aria-invalid={problem !== null}
          aria-describedby="compare-steps-help"
          onChange={(e) => {
            setText(e.target.value);
            const n = parseDecimal(e.target.value, true);
            if (numberProblem(n, r) === null) onChange(n);
          }}
        />
      </label>
      <span id="compare-steps-help" className={problem ? 'atman-compare-invalid' : 'atman-muted'} data-testid="compare-steps-help">
        {problem
          ? ` ${problem} Compare uses ${value}.`
          : ` Gauss–Legendre nodes along the path from zero embeddings (${allowedRange(r)}): more steps, a smaller completeness gap, ${value} backward pass${value === 1 ? '' : 'es'} per target token.`}
      </span>
    </fieldset>
  );
}

export function ComparePanel(): ReactNode {
  const x = useApp(selectExplanation);
  const y = useApp(selectComparison);
  const method = useApp(selectCompareMethod);
  const att = useApp(selectCompareAttention);
  const scaleMode = useApp(selectCompareScale);
  const steps = useApp(selectCompareSteps);
  const error = useApp(selectCompareError);
  const busy = useApp(selectBusy);
  const task = useApp(selectTask);
  const taskSide = useApp(selectTaskSide);
  const layers = useApp(selectLayerCount);
  const selectedUnit = useApp(selectSelectedUnit);
  const fx = useApp(selectPrimaryFaithfulness);
  const fy = useApp(selectComparisonFaithfulness);
  const { store } = useServices();
  const actions = useActions();
  const st = store.getState();
  const mismatch = comparisonMismatch(x, y);

  const scales = useMemo(() => {
    const mx = x ? maxAbs(x.units.map((u) => u.score)) : 0;
    const my = y ? maxAbs(y.units.map((u) => u.score)) : 0;
    if (scaleMode === 'shared') {
      const s = colourScale(Math.max(mx, my));
      return { x: s, y: s };
    }
    return { x: colourScale(mx), y: colourScale(my) };
  }, [x, y, scaleMode]);

  const state = task === 'compare' ? 'running' : y ? (mismatch ? 'stale' : 'done') : 'empty';
  return (
    <section className="panel atman-compare" aria-labelledby="compare-heading" data-testid="compare-panel" data-state={state}>
      <h2 id="compare-heading">Compare with another method</h2>
      <div className="row">
        <label>
          Method{' '}
          <select data-testid="compare-method" value={method} disabled={busy} onChange={(e) => st.setCompareMethod(e.target.value as CompareMethod)}>
            {COMPARE_METHODS.map((m) => (
              <option key={m} value={m}>
                {METHOD_LABELS[m]}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="primary" data-testid="compare" onClick={() => void actions.compare()} disabled={busy}>
          {task === 'compare' ? 'Comparing…' : 'Compare'}
        </button>
        <span role="radiogroup" aria-label="colour scale of the two sides" className="atman-compare-scale-choice">
          <label>
            <input type="radio" name="compare-scale" data-testid="compare-scale-own" checked={scaleMode === 'own'} onChange={() => st.setCompareScale('own')} /> each side to its own max
          </label>{' '}
          <label>
            <input type="radio" name="compare-scale" data-testid="compare-scale-shared" checked={scaleMode === 'shared'} onChange={() => st.setCompareScale('shared')} /> one shared scale
          </label>
        </span>
      </div>
      {isAttentionMethod(method) ? (
        <fieldset className="row atman-compare-attention" disabled={busy} data-testid="compare-attention">
          <legend className="visually-hidden">attention options</legend>
          <label>
            Query{' '}
            <select data-testid="compare-query" value={att.query} onChange={(e) => st.setCompareAttention({ query: e.target.value as 'target-mean' | 'last-prompt' })}>
              <option value="target-mean">mean over the rows predicting the target</option>
              <option value="last-prompt">last prompt position only</option>
            </select>
          </label>
          <IndexListInput label="Layers" value={att.layers} count={layers} onChange={(v) => st.setCompareAttention({ layers: v })} testId="compare-layers" />
          <IndexListInput label="Heads" value={att.heads} count={null} onChange={(v) => st.setCompareAttention({ heads: v })} testId="compare-heads" />
        </fieldset>
      ) : null}
      {method === 'integrated-gradients' ? <StepsInput value={steps} onChange={st.setCompareSteps} disabled={busy} /> : null}
      <p className="help">
        {METHOD_HELP[method]}. Runs on the shown result's prompt, target and settings, so both sides score the same units (Explain runs first when there is no current result).
        {isAttentionMethod(method) ? ' Layers "all" reads the layers the settings restrict AtMan to, when they do.' : ''}
      </p>
      {error ? (
        <p className="atman-compare-error" role="alert" data-testid="compare-error" data-error-code={error.code}>
          The comparison failed: {error.message}
          {ERROR_HINTS[error.code] ? ` ${ERROR_HINTS[error.code]}` : ''}
        </p>
      ) : null}
      {mismatch ? (
        <p className="atman-compare-stale" data-testid="compare-stale">
          <strong>{mismatch}</strong>
        </p>
      ) : null}
      {x && y ? (
        <>
          <div className="atman-compare-grid" data-testid="compare-view" data-scale={scaleMode}>
            <CompareSide
              side="primary"
              explanation={x}
              scale={scales.x}
              faithfulness={fx}
              busy={busy}
              measuring={task === 'faithfulness' && taskSide === 'primary'}
              onMeasure={() => void actions.measureFaithfulness('primary')}
              onCancel={() => actions.cancel()}
              selectedUnit={mismatch ? null : selectedUnit}
              onSelectUnit={st.selectUnit}
            />
            <CompareSide
              side="comparison"
              explanation={y}
              scale={scales.y}
              faithfulness={fy}
              busy={busy}
              measuring={task === 'faithfulness' && taskSide === 'comparison'}
              onMeasure={() => void actions.measureFaithfulness('comparison')}
              onCancel={() => actions.cancel()}
              selectedUnit={mismatch ? null : selectedUnit}
              onSelectUnit={st.selectUnit}
            />
          </div>
          <div className="row">
            <button type="button" data-testid="export-comparison-json" onClick={() => downloadBlob(exportJson(y, fy), `${fileStem(y)}-${y.method ?? 'atman'}.json`)}>
              Export comparison JSON
            </button>
            <button type="button" className="link-button" data-testid="clear-comparison" disabled={busy} onClick={() => st.clearComparison()}>
              Remove the comparison
            </button>
          </div>
        </>
      ) : null}
    </section>
  );
}
