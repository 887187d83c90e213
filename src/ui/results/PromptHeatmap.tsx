// The prompt (and the underlined target after it) with each unit's span coloured by its score.
// Text goes in as React children only. Every unit is focusable; hover or focus fills the info line
// above the text (a line of its own, so it never covers the text it explains, the next line or the
// legend, and it works the same for a finger's tap).
import { useId, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { KeyboardEvent, ReactNode } from 'react';
import type { Explanation } from '../../runtime/schema';
import { canAffect, colourScale, formatScore, maxAbs, ranks, unitLabel, unitScores } from './score-view';
import type { ColourScale } from './score-view';
import { targetPosition } from './text-pieces';
import { refinedPieces } from './drill-view';
import { heatmapRunsWithImage } from '../image/image-chip';
import type { Piece, Run } from './text-pieces';

export interface PromptHeatmapProps {
  explanation: Explanation;
  /** null/undefined: scores over the whole target; t: the explanation of target token t */
  targetIndex?: number | null;
  selectedUnit?: number | null;
  /** click / Enter / Space on a unit; clicking the selected unit again passes null */
  onSelectUnit?: (unit: number | null) => void;
  /** the unit under the pointer or keyboard focus, null when none (e.g. to fetch its drag-along) */
  onHoverUnit?: (unit: number | null) => void;
  /**
   * [position, phi] the hovered unit would suppress under conceptual suppression (the plan's
   * factors). Absent: the hovered unit's own factors from the explanation are used.
   */
  dragAlong?: Array<[number, number]>;
  /** a shared colour scale; default: one over this view's scores */
  scale?: ColourScale;
}

interface Active {
  unit: number;
}

/** What the outlined positions are, said where they are shown. */
export const DRAG_ALONG_WORDS = 'conceptual suppression: tokens whose embeddings are kappa-similar to this unit are suppressed with it (dashed outline)';

export const unitAriaLabel = (label: string, score: number, rank: number, count: number): string =>
  `unit '${unitLabel(label)}', score ${formatScore(score, 3)}, rank ${rank} of ${count}`;

export function PromptHeatmap(props: PromptHeatmapProps): ReactNode {
  const { explanation: x, targetIndex = null, selectedUnit = null, onSelectUnit, onHoverUnit, dragAlong } = props;
  const scores = useMemo(() => unitScores(x, targetIndex), [x, targetIndex]);
  const rank = useMemo(() => ranks(scores), [scores]);
  const scale = props.scale ?? colourScale(maxAbs(scores));
  // The processor's image tokens show as one image chip; their scores are drawn over the picture.
  const layout = useMemo(() => heatmapRunsWithImage(x), [x]);
  const [active, setActive] = useState<Active | null>(null);
  const tipId = useId();
  // The info line keeps the tallest height it has had for this result: were it to shrink when the
  // pointer leaves, the text below would move back under the pointer, show the longer info again
  // and push the text away, over and over.
  const infoRef = useRef<HTMLDivElement>(null);
  const [infoHeight, setInfoHeight] = useState(0);
  useLayoutEffect(() => setInfoHeight(0), [x]);
  useLayoutEffect(() => {
    const h = infoRef.current?.offsetHeight ?? 0;
    if (h > infoHeight) setInfoHeight(h);
  });
  const infoStyle = infoHeight ? { minHeight: infoHeight } : undefined;
  const explained = targetIndex === null ? -1 : targetPosition(x, targetIndex);
  // Drill-down: finer units drawn inside their parents, on a scale of their own (finer units' scores
  // are not on the first level's scale: one word can outweigh its whole sentence).
  const refined = useMemo(() => refinedPieces(x, targetIndex), [x, targetIndex]);
  const refinedScale = useMemo(() => colourScale(maxAbs([...refined.values()].map((r) => r.score))), [refined]);

  const drag = useMemo(() => {
    const m = new Map<number, number>();
    const list = dragAlong ?? (active ? x.units[active.unit]?.factors : undefined) ?? [];
    const own = new Set(active ? (x.units[active.unit]?.positions ?? []) : []);
    for (const [p, phi] of list) if (!own.has(p)) m.set(p, phi);
    return m;
  }, [dragAlong, active, x]);

  const show = (unit: number): void => {
    setActive({ unit });
    onHoverUnit?.(unit);
  };
  const hide = (unit: number): void => {
    setActive((a) => (a && a.unit === unit ? null : a));
    onHoverUnit?.(null);
  };
  const select = (unit: number): void => onSelectUnit?.(unit === selectedUnit ? null : unit);

  const renderPiece = (p: Piece, key: string): ReactNode => {
    if (p.kind === 'gap') return <span key={key}>{p.text}</span>;
    if (layout.image && p.pos === layout.image.from) {
      return (
        <span key={key} className="atman-token atman-chip atman-image-chip" data-pos={p.pos} data-testid="image-chip" title="the picture: its scores are drawn over it below">
          {p.text}
        </span>
      );
    }
    const phi = drag.get(p.pos);
    const cls = ['atman-token', p.chip ? 'atman-chip' : '', p.template ? 'atman-template' : '', phi !== undefined ? 'atman-drag' : '', p.pos === explained ? 'atman-explained' : '']
      .filter(Boolean)
      .join(' ');
    const title = phi !== undefined ? `dragged along, factor ${phi.toPrecision(3)}` : p.template ? "the model's chat template (not a unit)" : undefined;
    const fine = refined.get(p.pos);
    return (
      <span key={key} className={cls} data-pos={p.pos} data-drag={phi} {...(p.template ? { 'data-template': true } : {})} title={title}>
        {fine ? (
          <span
            className={`atman-refined atman-refined-${fine.depth}`}
            data-testid="refined"
            data-level={fine.level}
            data-score={fine.score}
            title={`${fine.level} '${unitLabel(fine.label)}': score ${formatScore(fine.score, 3)} (drill-down)`}
            style={{ backgroundColor: refinedScale(fine.score), color: refinedScale.text(fine.score) }}
          >
            {p.text}
          </span>
        ) : (
          p.text
        )}
      </span>
    );
  };

  const renderRun = (run: Run, key: string): ReactNode => {
    if (run.kind === 'plain') return renderPiece(run.piece, key);
    const u = run.unit;
    const unit = x.units[u]!;
    const s = scores[u]!;
    const na = targetIndex !== null && !canAffect(x, u, targetIndex);
    const isActive = active?.unit === u;
    const cls = ['atman-unit', u === selectedUnit ? 'atman-selected' : '', na ? 'atman-na' : '', isActive ? 'atman-active' : '']
      .filter(Boolean)
      .join(' ');
    return (
      <span
        key={key}
        className={cls}
        data-testid={run.first ? 'unit' : 'unit-part'}
        data-unit={u}
        data-score={s}
        data-rank={rank[u]}
        style={{ backgroundColor: scale(s), color: scale.text(s) }}
        {...(run.first
          ? {
              tabIndex: 0,
              role: 'button',
              'aria-pressed': u === selectedUnit,
              'aria-label': unitAriaLabel(unit.label, s, rank[u]!, scores.length) + (na ? ', cannot affect this target token' : ''),
              'aria-describedby': isActive ? tipId : undefined,
            }
          : { 'aria-hidden': true })}
        onMouseEnter={() => show(u)}
        onMouseLeave={() => hide(u)}
        onFocus={() => show(u)}
        onBlur={() => hide(u)}
        onClick={() => select(u)}
        onKeyDown={(e: KeyboardEvent<HTMLSpanElement>) => {
          if (e.key === 'Enter' || e.key === ' ' || e.key === 'Spacebar') {
            e.preventDefault();
            select(u);
          } else if (e.key === 'Escape') {
            setActive(null);
          }
        }}
      >
        {run.pieces.map((p, i) => renderPiece(p, `${key}.${i}`))}
      </span>
    );
  };

  const tipUnit = active ? x.units[active.unit] : undefined;
  const label = tipUnit ? unitLabel(tipUnit.label) : '';
  return (
    <div className="atman-heatmap" data-testid="prompt-heatmap">
      {active && tipUnit ? (
        <div ref={infoRef} style={infoStyle} className="atman-hover-info" role="tooltip" id={tipId} data-testid="unit-tooltip">
          <span className="atman-tooltip-label">{label.length > 60 ? `${label.slice(0, 59)}…` : label}</span>{' '}
          <span>
            score <strong>{formatScore(scores[active.unit]!, 4)}</strong>, rank {rank[active.unit]} of {scores.length}
          </span>
          {drag.size > 0 ? (
            <span className="atman-hover-drag" data-testid="unit-tooltip-drag">
              {' '}
              · drags along {drag.size} more position{drag.size === 1 ? '' : 's'} ({DRAG_ALONG_WORDS})
            </span>
          ) : null}
          {targetIndex !== null && !canAffect(x, active.unit, targetIndex) ? <span> · comes after this target token</span> : null}
        </div>
      ) : (
        <div ref={infoRef} style={infoStyle} className="atman-hover-info atman-hover-idle" data-testid="unit-tooltip-idle">
          Point at a unit (or tab to it) for its score and rank; click to select it.
        </div>
      )}
      <p className="atman-heatmap-text">
        {layout.prompt.map((r, i) => renderRun(r, `p${i}`))}
        <span className="atman-target" title="target">
          {layout.target.map((r, i) => renderRun(r, `t${i}`))}
        </span>
      </p>
    </div>
  );
}
