// Dense row-major matrix products for the relevance rules (rollout, Chefer): float64, with the zero
// entries of the left factor skipped (attention is sparse after masking and clipping).

/** out += a · b for row-major a [n, m] and b [m, p]. */
export function addProduct(out: Float64Array, a: ArrayLike<number>, b: ArrayLike<number>, n: number, m: number, p: number): void {
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      const v = a[i * m + k]!;
      if (v === 0) continue;
      for (let j = 0; j < p; j++) out[i * p + j]! += v * b[k * p + j]!;
    }
  }
}
