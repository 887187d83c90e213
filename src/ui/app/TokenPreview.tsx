// Before a run: the prompt as the model's tokens. Hovering (or focusing) one shows its unit and
// the positions conceptual suppression would drag along at the current kappa, from the
// engine's plan (no passes run).
import { useState, type ReactNode } from 'react';
import { selectPlan } from '../../state/selectors';
import { useApp } from './app-context';

const visible = (t: string): string => t.replace(/\n/g, '⏎');

type PlanToken = { role: string; special?: boolean; start: number; end: number };
const isImageToken = (t: PlanToken | undefined): boolean => !!t && t.role === 'prompt' && !!t.special && t.end > t.start;
function runLength(tokens: PlanToken[], from: number): number {
  let to = from;
  while (isImageToken(tokens[to]) && tokens[to]!.start === tokens[from]!.start) to++;
  return to - from;
}

export function TokenPreview(): ReactNode {
  const plan = useApp(selectPlan);
  const [hover, setHover] = useState<number | null>(null);
  if (!plan) return null;
  const unitOf = new Map<number, number>();
  plan.units.forEach((u, i) => u.positions.forEach((p) => unitOf.set(p, i)));
  const unit = hover === null ? undefined : plan.units[unitOf.get(hover) ?? -1];
  const own = new Set(unit?.positions ?? []);
  const dragged = new Map((unit?.factors ?? []).filter(([p]) => !own.has(p)));
  const draggedText = [...dragged.keys()].map((p) => JSON.stringify(plan.tokens[p]?.text ?? '')).join(', ');

  return (
    <div className="token-preview" data-testid="token-preview">
      <p className="muted">
        {plan.units.length} units, {plan.units.length + 1} passes. Hover a token to see what suppressing its unit drags along (conceptual suppression,
        kappa {plan.settings.kappa ?? 'off'}).
      </p>
      <p className="tokens" onPointerLeave={() => setHover(null)}>
        {plan.tokens.map((t, i) =>
          isImageToken(t) ? (
            // An image's processor tokens all span its '<image>' marker: one chip for the run.
            isImageToken(plan.tokens[i - 1]) && plan.tokens[i - 1]!.start === t.start ? null : (
              <span key={i} className="tok image-chip" data-testid="preview-image-chip">
                [image · {runLength(plan.tokens, i)} tokens]
              </span>
            )
          ) : t.role === 'template' ? (
            // The chat template's own tokens: read by the model, never a unit.
            <span
              key={i}
              data-testid="preview-template-token"
              className={`tok template${dragged.has(i) ? ' dragged' : ''}`}
              style={dragged.has(i) ? { backgroundColor: `rgba(33, 102, 172, ${(0.15 + 0.5 * (1 - dragged.get(i)!)).toFixed(2)})` } : undefined}
              title={dragged.has(i) ? `chat template, dragged along: factor ${dragged.get(i)!.toFixed(2)}` : "the model's chat template (not a unit)"}
            >
              {visible(t.text)}
            </span>
          ) : t.role === 'prompt' ? (
            <span
              key={i}
              tabIndex={0}
              data-testid="preview-token"
              data-position={i}
              className={`tok${own.has(i) ? ' own' : ''}${dragged.has(i) ? ' dragged' : ''}`}
              style={dragged.has(i) ? { backgroundColor: `rgba(33, 102, 172, ${(0.15 + 0.5 * (1 - dragged.get(i)!)).toFixed(2)})` } : undefined}
              title={dragged.has(i) ? `dragged along: factor ${dragged.get(i)!.toFixed(2)}` : undefined}
              onPointerEnter={() => setHover(i)}
              onFocus={() => setHover(i)}
              onBlur={() => setHover(null)}
            >
              {visible(t.text)}
            </span>
          ) : null,
        )}
      </p>
      <p className="muted" data-testid="drag-along" aria-live="polite">
        {unit ? (dragged.size ? `Suppressing ${JSON.stringify(unit.label)} also suppresses ${draggedText}.` : `Suppressing ${JSON.stringify(unit.label)} drags nothing else along.`) : '\u00a0'}
      </p>
    </div>
  );
}
