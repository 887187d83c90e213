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
