import { DEFAULT_DRILL_SHARE } from '../core/drill-down';
import type { ExplainSettings, Granularity } from '../core/types';

const gran = (g: Granularity) => [g.kind, g.kind === 'delimiter' ? g.delimiter : null, g.kind === 'chunks' ? g.chunks : null];

/** Field-by-field equality (key order and layer order do not matter). */
export function sameSettings(a: ExplainSettings, b: ExplainSettings): boolean {
  const canon = (s: ExplainSettings) =>
    JSON.stringify([s.mode, s.factor, s.kappa, gran(s.granularity), s.targetGranularity, s.postprocess, s.layers ? [...s.layers].sort((x, y) => x - y) : null, s.tokenOverlap, s.chat, s.drillDown?.top ?? null, s.drillDown ? (s.drillDown.share ?? DEFAULT_DRILL_SHARE) : null]);
  return canon(a) === canon(b);
}
