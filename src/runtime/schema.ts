// The result every method returns and every reader of results imports: the explanation's fields,
// the methods, the sentence that says what a score's sign means, and the schema version. The UI,
// the worker protocol and the CLI import it from here; docs/method.md says what the numbers mean.
import type { UnitChoice } from '../core/auto-units';
import type { DrillLevel } from '../core/drill-down';
import type { Rect } from '../core/image-regions';
import type { ExplainSettings, TokenInfo } from '../core/types';
import type { ExplainedImage } from './image/image-passes';
import type { ModelFacts } from './atman/atman-model';
import type { RunReport } from './atman/pass-runner';

export const SCHEMA_VERSION = 1;

export const SIGN_SENTENCE =
  'score = CE(target | unit suppressed) - CE(target | unperturbed), summed over target tokens after post-processing; positive means the unit is evidence for the target (paper sign; the reference code stores the negation).';

export interface ExplainProgress {
  stage: 'passes';
  loaded: number;
  total: number;
  elapsedSeconds: number;
}

export interface ExplainedUnit {
  label: string;
  positions: number[];
  /** over the whole target, after post-processing */
  score: number;
  /** raw R[u, t] per target token (paper sign) */
  perTarget: number[];
  /** the column factors of this unit's pass where they differ from 1: [position, factor] */
  factors: Array<[number, number]>;
  /** image units: which image (0), the bounding box in original pixels, and their image tokens */
  image?: number;
  region?: Rect;
  imageTokens?: number[];
  /** the unit's area as few rectangles, for drawing */
  regions?: Rect[];
  /**
   * Drill-down: the units of the next finer level inside this one, each scored as a full run at
   * that level would score it; present only on the units that were refined.
   */
  children?: ExplainedUnit[];
}

/** What a drill-down ran: its levels, how many units of each it refined, and the passes it took. */
export interface DrillDownReport {
  /** at most how many of the strongest units of each level were refined */
  top: number;
  /** the fraction of its level's strongest score a unit needed to be refined (absent in results made before it existed: 0) */
  share?: number;
  /** coarsest first; `units` are of the first level, their `children` of the next, and so on */
  levels: DrillLevel[];
  /** passes run at each level (the unperturbed pass counted at the first level, which later levels take it from; 0 where every child equalled its parent) */
  passesPerLevel: number[];
  /** what a full run at the finest level takes: its unperturbed pass plus one per unit */
  fullPasses: number;
}

/** What produced an explanation: AtMan, or one of the forward-only methods it is compared with. */
export type ExplanationMethod = 'atman' | 'attention' | 'rollout' | 'occlusion-delete' | 'occlusion-mask' | GradientMethod;

/** The gradient methods (src/runtime/gradients/), run through a backward graph appended to the model's own. */
export type GradientMethod = 'input-x-gradient' | 'integrated-gradients' | 'chefer';
export const GRADIENT_METHODS: readonly GradientMethod[] = ['input-x-gradient', 'integrated-gradients', 'chefer'];

/** An explanation without a `method` is AtMan's. */
export const methodOf = (x: Pick<Explanation, 'method'>): ExplanationMethod => x.method ?? 'atman';

export interface Explanation {
  schemaVersion: number;
  /** absent = 'atman' */
  method?: ExplanationMethod;
  sign: string;
  prompt: string;
  target: string;
  tokens: Array<Pick<TokenInfo, 'id' | 'text' | 'start' | 'end' | 'role'> & { special?: boolean }>;
  units: ExplainedUnit[];
  /** cross-entropy of each target token in the unperturbed pass */
  baseline: { crossEntropy: number[] };
  settings: ExplainSettings;
  model: ModelFacts;
  passes: number;
  batchSize: number;
  /** how the passes ran: prefix reuse, score head, fallbacks */
  run: RunReport;
  /** present on a drill-down: its levels and passes (the hierarchy is in `units[].children`) */
  drillDown?: DrillDownReport;
  /** present when the units were chosen automatically: the level, the estimates and why */
  unitChoice?: UnitChoice;
  /** the image of a vision-language prompt: its size, frames and every image token's region */
  image?: ExplainedImage;
  seconds: number;
}

export interface UnitPlan {
  tokens: Explanation['tokens'];
  units: Array<Pick<ExplainedUnit, 'label' | 'positions' | 'factors'>>;
  settings: ExplainSettings;
}

export type ComparisonMethod = Exclude<ExplanationMethod, 'atman'>;

export const COMPARISON_METHODS: readonly ComparisonMethod[] = ['attention', 'rollout', 'occlusion-delete', 'occlusion-mask', ...GRADIENT_METHODS];

export const COMPARISON_SIGNS: Record<ComparisonMethod, string> = {
  attention:
    'score = attention probability mass from the query rows (the rows predicting the target tokens) to the unit\'s positions, averaged over the chosen layers and heads; never negative, higher means more attended.',
  rollout:
    'score = attention-rollout mass (head-mean attention plus identity, row-normalised, multiplied through the layers) from the query rows to the unit\'s positions; never negative, higher means more attended.',
  'occlusion-delete':
    'score = CE(target | unit deleted from the input) - CE(target | full input), summed over target tokens after post-processing; positive means the unit is evidence for the target (paper sign).',
  'occlusion-mask':
    'score = CE(target | unit masked out by attention_mask 0) - CE(target | unperturbed), summed over target tokens after post-processing; positive means the unit is evidence for the target (paper sign).',
  'input-x-gradient':
    'score = sum over the unit\'s tokens and embedding dimensions of x · dL/dx, x = token embeddings (before position embeddings; for images, the image tokens\' input embeddings or a captioner\'s encoder output rows), L = sum of the target tokens\' log-probabilities; positive means the unit is evidence for the target.',
  'integrated-gradients':
    'score = sum over the unit\'s tokens and embedding dimensions of x · the integral over a in [0, 1] of dL/dx at a·x (baseline 0, Gauss–Legendre quadrature; x as for input × gradient, images included), L = sum of the target tokens\' log-probabilities; positive means the unit is evidence for the target.',
  chefer:
    'score = Chefer et al.\'s relevance (decoder rule: R = I, R <- R + mean over heads of max(dy/dA ⊙ A, 0) · R through the layers, y = the target token\'s raw logit; a captioner\'s encoder rows get the cross-attention rule\'s text-to-image relevance) of the row predicting each target token, (R - I) summed over the unit\'s columns and the target tokens; never negative, higher means more evidence for the target.',
};
