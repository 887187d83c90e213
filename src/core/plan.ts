// Which passes run together, and with which column factors (docs/method.md, "The sequence" and "What the speed-ups may and may not change").
// Pass 0 is the unperturbed run; pass p >= 1 suppresses units[p - 1].

/** Total forward passes for a number of units: the unperturbed one plus one per unit. */
export const passCount = (unitCount: number): number => 1 + unitCount;

/**
 * Row-major [passes.length, seqLen] column factors for one batch: an all-ones row for pass 0,
 * factorsOfUnit(p - 1) for pass p (the callback takes the 0-based index into the units array).
 */
export function factorsForBatch(
  passes: number[],
  factorsOfUnit: (unitIndex: number) => Float32Array,
  seqLen: number,
): Float32Array {
  const out = new Float32Array(passes.length * seqLen).fill(1);
  passes.forEach((p, b) => {
    if (p === 0) return;
    const phi = factorsOfUnit(p - 1);
    if (phi.length !== seqLen) throw new RangeError(`unit ${p - 1} has ${phi.length} factors, the sequence has ${seqLen}`);
    out.set(phi, b * seqLen);
  });
  return out;
}

export interface BatchSizeInput {
  vocab: number;
  seqLen: number;
  numHeads: number;
  budgetBytes: number;
  /** rows that go through the LM head (all of them without the score head); default seqLen */
  logitRows?: number;
  /** hidden width: a few [seq, hidden] activations are live per item; default 0 (not counted) */
  hiddenSize?: number;
}

export const MAX_BATCH = 64;

/** What one batch may use when nothing tighter is known (the adapter's buffer limit may be). */
export const DEFAULT_MEMORY_BUDGET = 256 * 2 ** 20;

/**
 * Biggest batch (1..64) whose fp32 logits, one layer's fp32 attention scores
 * (and their controlled copy) and a few hidden activations fit budgetBytes.
 */
export function chooseBatchSize({ vocab, seqLen, numHeads, budgetBytes, logitRows = seqLen, hiddenSize = 0 }: BatchSizeInput): number {
  const perItem = 4 * (logitRows * vocab + 2 * numHeads * seqLen * seqLen + 8 * seqLen * hiddenSize);
  if (!(perItem > 0) || !(budgetBytes > 0)) return 1;
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(budgetBytes / perItem)));
}

/**
 * Splits units sorted by first changed column into batches for prefix reuse.
 * A batch runs from its earliest start, so a batch mixing early and late
 * starts recomputes rows the late units did not need; each extra batch costs
 * a fixed overhead instead. Minimises sum(overheadRows + size * (seqLen - start))
 * over batches of at most maxBatch (dynamic programming, O(n * maxBatch)).
 * Returns [from, to) index ranges into `starts`.
 */
export function groupByStart(starts: readonly number[], seqLen: number, maxBatch: number, overheadRows: number): Array<[number, number]> {
  const n = starts.length;
  const best = new Float64Array(n + 1).fill(Infinity);
  const cut = new Int32Array(n + 1);
  best[n] = 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = i + 1; j <= Math.min(n, i + maxBatch); j++) {
      const cost = overheadRows + (j - i) * (seqLen - starts[i]!) + best[j]!;
      if (cost < best[i]!) {
        best[i] = cost;
        cut[i] = j;
      }
    }
  }
  const groups: Array<[number, number]> = [];
  for (let i = 0; i < n; i = cut[i]!) groups.push([i, cut[i]!]);
  return groups;
}

/**
 * Batch size for gradient runs (input × gradient, integrated-gradient steps, Chefer's targets) under
 * the same budget as AtMan's passes. A backward pass keeps every layer's activations alive until
 * their gradients are taken, where a forward pass frees them layer by layer: per item, each layer's
 * attention probabilities and their gradients (2·heads·S²), a dozen [S, hidden] activations and their
 * gradients, and the target rows' logits with their gradient.
 */
export function chooseGradientBatchSize({ vocab, seqLen, numHeads, budgetBytes, logitRows = seqLen, hiddenSize = 0, layers }: BatchSizeInput & { layers: number }): number {
  const perLayer = 2 * numHeads * seqLen * seqLen + 24 * seqLen * hiddenSize;
  const perItem = 4 * (2 * logitRows * vocab + layers * perLayer);
  if (!(perItem > 0) || !(budgetBytes > 0)) return 1;
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(budgetBytes / perItem)));
}
