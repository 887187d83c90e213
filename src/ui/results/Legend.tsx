// The colour bar of the diverging scale with -max / 0 / +max labels and the sign in words.
import type { ReactNode } from 'react';
import { colourScale, formatScore } from './score-view';

export interface LegendProps {
  /** the scale's domain is [-maxAbs, maxAbs] */
  maxAbs: number;
  /** what the numbers are, e.g. "score over the whole target" */
  caption?: string;
}

export const SIGN_IN_WORDS =
  'orange: evidence for the target (suppressing it makes the target less likely); blue: evidence against (suppressing it makes the target more likely)';

/** CSS gradient stops sampling the scale from -maxAbs to +maxAbs. */
export function legendGradient(maxAbs: number, steps = 16): string {
  const scale = colourScale(maxAbs > 0 ? maxAbs : 1);
  const m = scale.maxAbs;
  const stops: string[] = [];
  for (let i = 0; i <= steps; i++) {
    const v = -m + (2 * m * i) / steps;
    stops.push(`${scale(v)} ${((100 * i) / steps).toFixed(2)}%`);
  }
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

export function Legend({ maxAbs, caption }: LegendProps): ReactNode {
  return (
    <figure className="atman-legend" data-testid="legend">
      <div className="atman-legend-bar" role="img" aria-label={`colour scale from ${formatScore(-maxAbs, 3)} (blue) through 0 (white) to ${formatScore(maxAbs, 3)} (orange)`} style={{ background: legendGradient(maxAbs) }} />
      <div className="atman-legend-ticks" aria-hidden="true">
        <span data-testid="legend-min">{formatScore(-maxAbs, 3)}</span>
        <span>0</span>
        <span data-testid="legend-max">{formatScore(maxAbs, 3)}</span>
      </div>
      <figcaption>
        {caption ? <span className="atman-legend-caption">{caption}. </span> : null}
        {SIGN_IN_WORDS}.
      </figcaption>
    </figure>
  );
}
