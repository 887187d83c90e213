// What each comparison method hands back to explainComparison (comparison-methods.ts): scores per
// unit and target token, the unperturbed cross-entropy, and the run report.
import type { ExplainRequest } from '../atman/explain';
import type { RunReport } from '../atman/pass-runner';
import type { ComparisonMethod } from '../schema';

export interface Scores {
  scores: number[];
  perTarget: Float64Array[];
  ce0: Float64Array;
  report: RunReport;
}

export const emptyReport = (batchSize: number, scoreHead: boolean): RunReport => ({
  scoreHead,
  prefixReuse: 'off',
  notes: [],
  batches: 0,
  batchSize,
  rowsComputed: 0,
  rowsFullRecompute: 0,
  passesSkipped: 0,
  ioPeakBytes: 0,
});

/** Which attention rows score a unit: the last prompt position, or the mean over the rows predicting the target tokens. */
export type AttentionQuery = 'last-prompt' | 'target-mean';

export interface AttentionOptions {
  /** layers to average (raw attention) or multiply through (rollout); null = all */
  layers?: readonly number[] | null;
  /** heads to average; null = all */
  heads?: readonly number[] | null;
  /** default 'target-mean' */
  query?: AttentionQuery;
}

export interface ComparisonRequest
  extends Pick<ExplainRequest, 'prompt' | 'target' | 'settings' | 'image' | 'onProgress' | 'signal' | 'memoryBudgetBytes' | 'batchSize'> {
  method: ComparisonMethod;
  /** for 'attention' and 'rollout' */
  attention?: AttentionOptions;
  /** for 'integrated-gradients': Gauss–Legendre nodes (default 50) */
  steps?: number;
}
