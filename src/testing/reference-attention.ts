// Per-layer attention probabilities of the reference GPT-2 forward pass (reference-gpt2.ts),
// optionally with key columns masked out as an attention_mask of 0 does. Float64, ground truth
// for the attention-based comparison methods.
import { type Gpt2Weights, referenceLogits } from './reference-gpt2';

export interface ReferenceAttention {
  /** per layer, [heads, S, S] row-major; zeros above the diagonal */
  probs: Float64Array[];
  logits: Float32Array;
}

export function referenceAttention(w: Gpt2Weights, ids: number[], keyMask?: ArrayLike<number>): ReferenceAttention {
  const S = ids.length;
  const probs = Array.from({ length: w.nLayer }, () => new Float64Array(w.nHead * S * S));
  const logits = referenceLogits(w, ids, null, 'multiplicative', undefined, {
    ...(keyMask ? { keyMask } : {}),
    onProbs: (l, h, i, row) => probs[l]!.set(row, (h * S + i) * S),
  });
  return { probs, logits };
}
