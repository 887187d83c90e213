// Which passes run together, and with which column factors (spec sections 1 and 6).
// Pass 0 is the unperturbed run; pass p >= 1 suppresses units[p - 1].

/** Total forward passes for a number of units: the unperturbed one plus one per unit. */
export const passCount = (unitCount: number): number => 1 + unitCount;

/** Yields the pass indices 0..unitCount in batches of at most batchSize, pass 0 first. */
export function* passBatches(unitCount: number, batchSize: number): Generator<number[]> {
  if (!(Number.isInteger(unitCount) && unitCount >= 0)) throw new RangeError(`unit count ${unitCount} is not a whole number >= 0`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batch size ${batchSize} is not a whole number >= 1`);
  const total = passCount(unitCount);
  for (let start = 0; start < total; start += batchSize) {
    const batch: number[] = [];
    for (let p = start; p < Math.min(total, start + batchSize); p++) batch.push(p);
    yield batch;
  }
}

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
  /** accepted for the runtime's convenience; hidden activations are small next to logits and scores and are not counted */
  hiddenSize?: number;
  /** accepted for the runtime's convenience; only one layer's attention scores are live at once */
  numLayers?: number;
}

export const MAX_BATCH = 64;

/** Biggest batch (1..64) whose fp32 logits plus one layer's fp32 attention scores fit budgetBytes. */
export function chooseBatchSize({ vocab, seqLen, numHeads, budgetBytes }: BatchSizeInput): number {
  const perItem = 4 * seqLen * (vocab + numHeads * seqLen);
  if (!(perItem > 0) || !(budgetBytes > 0)) return 1;
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(budgetBytes / perItem)));
}
