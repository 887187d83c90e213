// The batch size of a run from the model's shape, the sequence's length and a memory budget
// (src/core/memory-budget.ts holds the arithmetic), and the figures the run report prints.
import { DEFAULT_MEMORY_BUDGET, type MemoryPlan, type MemoryShape, planBatch } from '../../core/memory-budget';
import { needsFp16 } from '../model/dtypes';
import type { AtmanModel } from './atman-model';

export interface MemoryPlanOptions {
  /** bytes the passes may add to the loaded model; default DEFAULT_MEMORY_BUDGET */
  budgetBytes?: number | undefined;
  prefixReuse: boolean;
  encoderLength?: number;
  /** a batch size the caller fixed: reported with its estimate instead of the planned one */
  batchSize?: number | undefined;
}

/** What the run report keeps: the budget, the batch size chosen and the estimate at that size. */
export interface MemoryReport {
  budgetBytes: number;
  batchSize: number;
  estimateBytes: number;
  perItemBytes: number;
  fixedBytes: number;
  /** 'budget' when the budget chose the batch size, 'given' when the caller fixed it */
  chosenBy: 'budget' | 'given';
}

export function memoryShapeOf(model: AtmanModel, S: number, logitRows: number, opts: MemoryPlanOptions): MemoryShape {
  const c = model.config;
  const mlp = intermediateSize(c.raw);
  return {
    numLayers: c.numLayers,
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    hiddenSize: c.hiddenSize,
    ...(mlp ? { intermediateSize: mlp } : {}),
    vocab: c.vocabSize,
    seqLen: S,
    encoderLength: opts.encoderLength ?? 0,
    logitRows,
    // Without a key/value cache input nothing is fed per item, whatever was asked.
    prefixReuse: opts.prefixReuse && model.current.cache !== null,
    elementBytes: needsFp16(model.dtype) ? 2 : 4,
  };
}

/** The plan for S rows of which logitRows reach the LM head, and the report of it. */
export function memoryPlanFor(model: AtmanModel, S: number, logitRows: number, opts: MemoryPlanOptions): { plan: MemoryPlan; report: MemoryReport } {
  const plan = planBatch(memoryShapeOf(model, S, logitRows, opts), opts.budgetBytes ?? DEFAULT_MEMORY_BUDGET);
  const batchSize = opts.batchSize ?? plan.batchSize;
  return {
    plan,
    report: {
      budgetBytes: plan.budgetBytes,
      batchSize,
      estimateBytes: plan.fixedBytes + batchSize * plan.perItemBytes,
      perItemBytes: plan.perItemBytes,
      fixedBytes: plan.fixedBytes,
      chosenBy: opts.batchSize === undefined ? 'budget' : 'given',
    },
  };
}

function intermediateSize(raw: Record<string, unknown>): number | undefined {
  const sub = (typeof raw.text_config === 'object' && raw.text_config) || (typeof raw.decoder === 'object' && raw.decoder) || {};
  for (const o of [sub as Record<string, unknown>, raw]) {
    for (const k of ['intermediate_size', 'n_inner', 'ffn_dim', 'd_ff']) if (typeof o[k] === 'number') return o[k] as number;
  }
  return undefined;
}
