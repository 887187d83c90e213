// What each method is called and what its scores mean, in words for the page.
import type { ExplanationMethod } from '../../protocol/engine-api';

export const METHOD_LABELS: Record<ExplanationMethod, string> = {
  atman: 'AtMan',
  'occlusion-delete': 'Occlusion (unit deleted)',
  'occlusion-mask': 'Occlusion (unit masked out)',
  attention: 'Raw attention',
  rollout: 'Attention rollout',
};

/** One line per method: what a score is, and which sign means what. */
export const METHOD_SIGNS: Record<ExplanationMethod, string> = {
  atman: "Score = change in the target's cross-entropy when the unit's attention is suppressed in every layer; positive (orange) = evidence for the target, negative (blue) = evidence against.",
  'occlusion-delete': "Score = change in the target's cross-entropy when the unit's tokens are deleted from the input; positive (orange) = evidence for the target, negative (blue) = against.",
  'occlusion-mask': "Score = change in the target's cross-entropy when the unit is masked out (attention mask 0); positive (orange) = evidence for the target, negative (blue) = against.",
  attention: 'Score = attention mass from the rows predicting the target to the unit, averaged over layers and heads: how much the model looks at it, never negative, and not a change in cross-entropy.',
  rollout: 'Score = attention-rollout mass through the layers from the rows predicting the target to the unit: never negative, and not a change in cross-entropy.',
};

/** Short help for the method picker. */
export const METHOD_HELP: Record<Exclude<ExplanationMethod, 'atman'>, string> = {
  'occlusion-delete': 'Leave one unit out of the input and rerun (one pass per unit)',
  'occlusion-mask': 'Hide one unit with attention mask 0 (one pass per unit); not for fused attention',
  attention: 'Read the attention probabilities of one pass; not for fused attention',
  rollout: 'Attention multiplied through the layers (one pass); not for fused attention',
};

