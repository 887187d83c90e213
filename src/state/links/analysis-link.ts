// The comparison, the faithfulness numbers and the steering in share links: what a link carries
// from the page, and what an opened link sets.
import { COMPARE_METHODS, type CompareMethod, selectComparisonFaithfulness, selectPrimaryFaithfulness } from '../slices/compare-slice';
import type { SharedState } from './share-codec';
import type { AppState } from '../slices/app-state';

/**
 * Faithfulness numbers of the shown results (only while they belong to them) and the steering;
 * the comparison separately, as the first thing to leave out of a long link.
 */
export function analysisLinkFields(s: AppState, includeResult: boolean): Pick<SharedState, 'faithfulness' | 'steer' | 'compareView'> & { comparison: SharedState['comparison'] } {
  const primary = includeResult ? selectPrimaryFaithfulness(s) : null;
  const comparison = includeResult && s.comparison ? s.comparison : null;
  const compared = comparison ? selectComparisonFaithfulness(s) : null;
  return {
    comparison,
    // written only next to the comparison it shows
    ...(comparison ? { compareView: { scale: s.compareScale, attention: s.compareAttention, ...(comparison.method === 'integrated-gradients' ? { steps: comparison.run?.steps ?? s.compareSteps } : {}) } } : {}),
    ...(primary || compared ? { faithfulness: { primary, comparison: compared } } : {}),
    ...(s.steerUnits.length > 0 || s.steerResult
      ? { steer: { units: s.steerUnits, maxNewTokens: s.steerMaxNewTokens, result: s.steerResult && s.steerResult.prompt === s.prompt ? s.steerResult : null } }
      : {}),
  };
}

/** What an opened link sets beyond the inputs and the primary result. */
export function analysisPatchFromLink(shared: Partial<SharedState>): Partial<AppState> {
  const patch: Partial<AppState> = {};
  if (shared.comparison) {
    const m = shared.comparison.method;
    Object.assign(patch, { comparison: shared.comparison, compareError: null, ...(m && COMPARE_METHODS.includes(m as CompareMethod) ? { compareMethod: m } : {}) });
  }
  if (shared.comparison && shared.compareView) Object.assign(patch, { compareScale: shared.compareView.scale, compareAttention: shared.compareView.attention });
  // the steps the shown integrated-gradients comparison ran with, so Compare reruns it the same way
  const steps = shared.comparison ? (shared.compareView?.steps ?? shared.comparison.run?.steps) : undefined;
  if (steps !== undefined) patch.compareSteps = steps;
  if (shared.faithfulness) patch.faithfulness = { primary: shared.faithfulness.primary, comparison: shared.faithfulness.comparison };
  if (shared.steer) Object.assign(patch, { steerUnits: shared.steer.units, steerMaxNewTokens: shared.steer.maxNewTokens, steerResult: shared.steer.result });
  return patch;
}
