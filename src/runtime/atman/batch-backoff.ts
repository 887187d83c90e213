// The one out-of-memory policy for every batched run (AtMan's passes, faithfulness curves, which
// are AtMan passes, and occlusion): a batch that fails for lack of memory is split in halves and
// retried, and every later batch of the run uses the smaller size. The numbers do not change:
// passes are independent of their batch partners (models where they are not already run at batch 1).
import { isAtmanError } from '../../core/errors';

// What onnxruntime and the browsers say when an allocation fails: ORT's CPU arena ("Failed to
// allocate memory for requested buffer"), std::bad_alloc, WebAssembly memory growth, and WebGPU's
// GPUOutOfMemoryError ("out of memory"). A lost GPU device is not here: it fails every batch
// alike, however small, and is recovered by the worker (see workers/device-recovery.ts).
const MEMORY_ERROR = /out of memory|\boom\b|failed to allocate|allocation failed|bad_alloc|maximum memory size exceeded|memory\.grow/i;

/** Whether an error from the backend means the batch did not fit in memory. */
export function isOutOfMemory(e: unknown): boolean {
  if (isAtmanError(e)) return false;
  const message = (e as { message?: unknown } | null)?.message;
  return MEMORY_ERROR.test(typeof message === 'string' ? message : String(e));
}

export class BatchBackoff {
  constructor(
    /** the batch size now: the size asked for until a batch runs out of memory */
    public size: number,
    private readonly note: (words: string) => void,
  ) {}

  /**
   * After a batch of n items failed with e: true (and the size halved) when it ran out of memory
   * and a smaller batch is possible; false when the caller must handle e itself.
   */
  shrink(n: number, e: unknown): boolean {
    if (n <= 1 || !isOutOfMemory(e)) return false;
    this.size = Math.max(1, Math.min(this.size, Math.ceil(n / 2)));
    this.note(`out of memory at batch ${n}: continued at batch ${this.size}`);
    return true;
  }

  /** Runs the items in batches of the current size, halving it and retrying a batch that ran out of memory. */
  async each<T>(items: readonly T[], attempt: (batch: T[]) => Promise<void>): Promise<void> {
    for (let i = 0; i < items.length; ) {
      const batch = items.slice(i, i + this.size);
      try {
        await attempt(batch);
      } catch (e) {
        if (!this.shrink(batch.length, e)) throw e;
        await this.each(batch, attempt);
      }
      i += batch.length;
    }
  }
}
