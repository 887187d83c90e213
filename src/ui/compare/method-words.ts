// What each method is called and what its scores mean, in words for the page.
import type { ExplanationMethod } from '../../protocol/engine-api';

export const METHOD_LABELS: Record<ExplanationMethod, string> = {
  atman: 'AtMan',
  'occlusion-delete': 'Occlusion (unit deleted)',
  'occlusion-mask': 'Occlusion (unit masked out)',
  attention: 'Raw attention',
  rollout: 'Attention rollout',
  'input-x-gradient': 'Input × gradient',
  'integrated-gradients': 'Integrated gradients',
  chefer: 'Chefer (gradient × attention)',
};

/** One line per method: what a score is, and which sign means what. */
export const METHOD_SIGNS: Record<ExplanationMethod, string> = {
  atman: "Score = change in the target's cross-entropy when the unit's attention is suppressed in every layer; positive (orange) = evidence for the target, negative (blue) = evidence against.",
  'occlusion-delete': "Score = change in the target's cross-entropy when the unit's tokens are deleted from the input; positive (orange) = evidence for the target, negative (blue) = against.",
  'occlusion-mask': "Score = change in the target's cross-entropy when the unit is masked out (attention mask 0); positive (orange) = evidence for the target, negative (blue) = against.",
  attention: 'Score = attention mass from the rows predicting the target to the unit, averaged over layers and heads: how much the model looks at it, never negative, and not a change in cross-entropy.',
  rollout: 'Score = attention-rollout mass through the layers from the rows predicting the target to the unit: never negative, and not a change in cross-entropy.',
  'input-x-gradient': "Score = the unit's token embeddings times the gradient of the target's log-probability with respect to them; positive (orange) = evidence for the target, negative (blue) = against.",
  'integrated-gradients': "Score = the unit's token embeddings times the gradient of the target's log-probability averaged along the path from zero embeddings (Gauss–Legendre steps); positive (orange) = evidence for the target, negative (blue) = against.",
  chefer: "Score = Chefer's gradient-weighted attention relevance from the rows predicting the target to the unit (the positive part of gradient × attention, through the layers): never negative, higher = more evidence.",
};

/** Short help for the method picker. */
export const METHOD_HELP: Record<Exclude<ExplanationMethod, 'atman'>, string> = {
  'occlusion-delete': 'Leave one unit out of the input and rerun (one pass per unit)',
  'occlusion-mask': 'Hide one unit with attention mask 0 (one pass per unit); not for fused attention',
  attention: 'Read the attention probabilities of one pass; not for fused attention',
  rollout: 'Attention multiplied through the layers (one pass); not for fused attention',
  'input-x-gradient': 'Embeddings × gradient (one backward pass per target token)',
  'integrated-gradients': 'Gradients along the path from zero embeddings (one backward pass per step and target token)',
  chefer: 'Gradient-weighted attention through the layers (one backward pass per target token)',
};

