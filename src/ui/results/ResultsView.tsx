// The results of one explanation: summary line, heatmap, legend, top units, the per-token matrix
// (per-token targets only), the selected unit's details and the exports. Props in, callbacks out.
import { useMemo } from 'react';
import type { ReactNode } from 'react';
import type { Explanation } from '../../runtime/schema';
import { Legend } from './Legend';
import { PromptHeatmap } from './PromptHeatmap';
import { colourScale, maxAbs, targetTokens, tokenLabel, unitLabel, unitScores } from './score-view';
import { TargetMatrix } from './TargetMatrix';
import { TopUnitsChart } from './TopUnitsChart';
import { UnitDetails } from './UnitDetails';
import { ImageHeatmap } from '../image/ImageHeatmap';
import './results.css';

export interface ResultsViewProps {
  explanation: Explanation;
  selectedUnit: number | null;
  onSelectUnit: (unit: number | null) => void;
  /** null: the whole target; t: target token t's own explanation */
  selectedTarget: number | null;
  onSelectTarget: (t: number | null) => void;
  /** the plan's [position, phi] for the hovered unit (see PromptHeatmap) */
  dragAlong?: Array<[number, number]>;
  onHoverUnit?: (unit: number | null) => void;
  /** bars in the top-units chart; default 10 */
  topN?: number;
}

const seconds = (s: number): string => (s < 1 ? s.toPrecision(2) : s.toFixed(1));

/** "17 passes in 2.3 s on WebGPU: google swiftshader, batch 16; multiplicative, factor 0.1, kappa 0.7". */
export function summaryLine(x: Explanation): string {
  const dev = x.model.device || x.model.backend;
  const on = x.model.backend && !dev.toLowerCase().includes(x.model.backend.toLowerCase()) ? `${dev} (${x.model.backend})` : dev;
  const s = x.settings;
  const run = x.run ? `; ${x.run.rowsComputed} of ${x.run.rowsFullRecompute} rows computed (prefix reuse ${x.run.prefixReuse}${x.run.scoreHead ? ', score head' : ''})` : '';
  return `${x.passes} passes in ${seconds(x.seconds)} s on ${on}, batch ${x.batchSize}; ${s.mode}, factor ${s.factor}, kappa ${s.kappa ?? 'off'}${run}${attentionWords(x)}${couplingWords(x)}`;
}

/** Models exported with fused attention: whether the passes ran its kernels or its rewrite. */
function attentionWords(x: Explanation): string {
  const a = x.run?.attention;
  return a ? `; attention: ${a}` : '';
}

/** Models whose rows are coupled (8-bit dynamic quantization): how the passes ran instead. */
function couplingWords(x: Explanation): string {
  const c = x.run?.rowCoupling;
  if (!c) return '';
  if (c.handling === 'exact') return '; this model couples rows and batch items (8-bit activations share one scale), so passes ran one at a time for exact scores';
  const d = c.deviation;
  return `; dequantized variant${d ? `: scores within ${(100 * d.relative).toFixed(1)}% of the largest score of the exact computation (measured on ${d.passesCompared} passes)` : ''}`;
}

/** The second line: model, units, target granularity and post-processing. */
export function settingsLine(x: Explanation): string {
  const g = x.settings.granularity;
  const units = g.kind === 'delimiter' ? `units split at ${JSON.stringify(g.delimiter)}` : g.kind === 'chunks' ? 'manual chunks' : `${g.kind} units`;
  const target = x.settings.targetGranularity === 'token' ? 'per target token' : 'whole target';
  return `${x.model.id} (${x.model.dtype}): ${x.units.length} ${units}, ${target}, post-processing ${x.settings.postprocess}`;
}

export function ResultsView(props: ResultsViewProps): ReactNode {
  const { explanation: x, selectedUnit, onSelectUnit, onSelectTarget, dragAlong, onHoverUnit, topN = 10 } = props;
  const perToken = x.settings.targetGranularity === 'token';
  const T = x.baseline.crossEntropy.length;
  const selectedTarget = props.selectedTarget !== null && props.selectedTarget >= 0 && props.selectedTarget < T ? props.selectedTarget : null;
  const scores = useMemo(() => unitScores(x, selectedTarget), [x, selectedTarget]);
  const m = maxAbs(scores);
  const scale = useMemo(() => colourScale(m), [m]);
  const labels = useMemo(() => x.units.map((u) => unitLabel(u.label)), [x]);
  const targets = targetTokens(x);
  const what =
    selectedTarget === null
      ? `score over the whole target (post-processing ${x.settings.postprocess})`
      : `score for target token ${JSON.stringify(tokenLabel(targets[selectedTarget]!))} (post-processing ${x.settings.postprocess})`;

  return (
    <section className="atman-results" data-testid="results-view" aria-label="explanation results">
      <p className="atman-summary" data-testid="results-summary">
        {summaryLine(x)}
        <br />
        <span className="atman-muted">{settingsLine(x)}</span>
      </p>
      {perToken && T > 1 ? (
        <div className="atman-target-picker" role="group" aria-label="which target token to explain" data-testid="target-picker">
          <span className="atman-muted">explain: </span>
          <button type="button" aria-pressed={selectedTarget === null} onClick={() => onSelectTarget(null)}>
            whole target
          </button>
          {targets.map((tok, t) => (
            <button key={t} type="button" aria-pressed={selectedTarget === t} onClick={() => onSelectTarget(t)}>
              {tokenLabel(tok)}
            </button>
          ))}
        </div>
      ) : null}
      <div className="atman-results-grid">
        <div className="atman-results-main">
          <PromptHeatmap
            explanation={x}
            targetIndex={selectedTarget}
            selectedUnit={selectedUnit}
            onSelectUnit={onSelectUnit}
            onHoverUnit={onHoverUnit}
            dragAlong={dragAlong}
            scale={scale}
          />
          <Legend maxAbs={m} caption={what} />
          {x.image ? (
            <ImageHeatmap
              explanation={x}
              scores={scores}
              scale={scale}
              targetIndex={selectedTarget}
              selectedUnit={selectedUnit}
              onSelectUnit={onSelectUnit}
              onHoverUnit={onHoverUnit}
              onSelectTarget={onSelectTarget}
            />
          ) : null}
          {perToken ? (
            <figure className="atman-figure">
              <figcaption>R[unit, target token]: click a target token (row) to explain it, a column or cell to select the unit</figcaption>
              <TargetMatrix
                explanation={x}
                selectedTarget={selectedTarget}
                selectedUnit={selectedUnit}
                onSelectTarget={(t) => onSelectTarget(t === selectedTarget ? null : t)}
                onSelectUnit={(u) => onSelectUnit(u)}
              />
            </figure>
          ) : null}
        </div>
        <aside className="atman-results-side">
          <figure className="atman-figure">
            <figcaption>Top {Math.min(topN, x.units.length)} units</figcaption>
            <TopUnitsChart labels={labels} scores={scores} n={topN} selectedUnit={selectedUnit} onSelectUnit={(u) => onSelectUnit(u)} maxAbs={m} />
          </figure>
          <UnitDetails explanation={x} unit={selectedUnit} targetIndex={selectedTarget} onSelectTarget={onSelectTarget} />
        </aside>
      </div>
    </section>
  );
}
