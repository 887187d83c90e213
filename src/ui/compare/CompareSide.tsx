// One side of a comparison: the method and its sign convention, the prompt heatmap, the colour
// bar, the top units and the side's faithfulness. Props in, callbacks out.
import { useMemo } from 'react';
import type { ReactNode } from 'react';
import type { Explanation } from '../../protocol/engine-api';
import type { FaithfulnessSummary } from '../../state/faithfulness-summary';
import { FaithfulnessBlock } from '../faithfulness/FaithfulnessBlock';
import { PromptHeatmap } from '../results/PromptHeatmap';
import { type ColourScale, formatScore, unitLabel } from '../results/score-view';
import { TopUnitsChart } from '../results/TopUnitsChart';
import '../results/results.css';
import { METHOD_LABELS, METHOD_SIGNS } from './method-words';
import { methodOf } from '../../runtime/schema';

export type CompareSideName = 'primary' | 'comparison';

export interface CompareSideProps {
  side: CompareSideName;
  explanation: Explanation;
  /** the colour scale this side is drawn with (shared with the other side, or its own) */
  scale: ColourScale;
  faithfulness: FaithfulnessSummary | null;
  busy: boolean;
  measuring: boolean;
  onMeasure: () => void;
  onCancel?: () => void;
  selectedUnit: number | null;
  onSelectUnit: (u: number | null) => void;
}

/** Colour bar for one side; attention mass is never negative, so its bar starts at 0. */
function ScaleBar({ scale, nonNegative }: { scale: ColourScale; nonNegative: boolean }): ReactNode {
  const m = scale.maxAbs || 1;
  const lo = nonNegative ? 0 : -m;
  const stops = Array.from({ length: 13 }, (_, i) => `${scale(lo + ((m - lo) * i) / 12)} ${((100 * i) / 12).toFixed(1)}%`);
  return (
    <div className="atman-compare-scale" data-testid="compare-scale-bar" data-max={String(scale.maxAbs)}>
      <div className="atman-legend-bar" style={{ background: `linear-gradient(to right, ${stops.join(', ')})` }} />
      <div className="atman-legend-ticks" aria-hidden="true">
        <span>{nonNegative ? '0' : formatScore(-scale.maxAbs, 3)}</span>
        {nonNegative ? null : <span>0</span>}
        <span>{formatScore(scale.maxAbs, 3)}</span>
      </div>
    </div>
  );
}

export function CompareSide(props: CompareSideProps): ReactNode {
  const { side, explanation: x, scale, faithfulness, busy, measuring, onMeasure, onCancel, selectedUnit, onSelectUnit } = props;
  const method = methodOf(x);
  // Chefer's relevance is built from the positive part of gradient × attention: never negative.
  const nonNegative = method === 'attention' || method === 'rollout' || method === 'chefer';
  // (results made for the page's own tests may come without a run report)
  const c = x.run?.completeness;
  const steps = x.run?.steps;
  const labels = useMemo(() => x.units.map((u) => unitLabel(u.label)), [x]);
  const scores = useMemo(() => x.units.map((u) => u.score), [x]);
  return (
    <section className="atman-results atman-compare-side" data-testid={`compare-side-${side}`} data-method={method} aria-label={`${METHOD_LABELS[method]} (${side === 'primary' ? 'the shown result' : 'the comparison'})`}>
      <h3 className="atman-compare-title">
        {METHOD_LABELS[method]} <span className="atman-muted">{side === 'primary' ? '(the shown result)' : '(comparison)'}</span>
      </h3>
      <p className="atman-compare-sign" data-testid={`compare-sign-${side}`}>
        {METHOD_SIGNS[method]}
      </p>
      <PromptHeatmap explanation={x} selectedUnit={selectedUnit} onSelectUnit={onSelectUnit} scale={scale} />
      <ScaleBar scale={scale} nonNegative={nonNegative} />
      <figure className="atman-figure">
        <figcaption>Top {Math.min(5, x.units.length)} units</figcaption>
        <TopUnitsChart labels={labels} scores={scores} n={5} selectedUnit={selectedUnit} onSelectUnit={(u) => onSelectUnit(u)} maxAbs={scale.maxAbs} />
      </figure>
      <p className="atman-muted atman-compare-run">
        {x.passes} pass{x.passes === 1 ? '' : 'es'} in {x.seconds < 1 ? x.seconds.toPrecision(2) : x.seconds.toFixed(1)} s on {x.model.backend}
        {steps !== undefined ? <span data-testid={`compare-steps-${side}`} data-value={steps}>{`, ${steps} integration step${steps === 1 ? '' : 's'}`}</span> : null}
      </p>
      {c ? (
        <p className="atman-muted" data-testid={`compare-completeness-${side}`} data-gap={String(c.gap)} title="integrated gradients' completeness: the scores should sum to L(x) − L(0)">
          Scores sum to {c.attributed.toPrecision(4)} against L(x) − L(0) = {c.difference.toPrecision(4)} (gap {(100 * c.relativeGap).toPrecision(2)}%)
        </p>
      ) : null}
      <FaithfulnessBlock
        summary={faithfulness}
        canMeasure
        busy={busy}
        running={measuring}
        onMeasure={onMeasure}
        {...(onCancel ? { onCancel } : {})}
        testId={`compare-faithfulness-${side}`}
        title={`${METHOD_LABELS[method]} ranking`}
      />
    </section>
  );
}
