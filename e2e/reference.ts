// The same explanation computed in the test process by the Node engine (onnxruntime-node).
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explain } from '../src/runtime/atman/explain';
import { type Explanation } from '../src/runtime/schema';
import { parseDtype } from '../src/runtime/model/dtypes';
import { folderSource } from '../src/runtime/sources/folder-source';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import type { ControlMode } from '../src/core/types';

export const PROMPT = 'The cat sat on the mat. The dog ran to the cat.';
export const TARGET = ' The cat';

/**
 * `dtype`: the variant the page loaded (its explanation's model.dtype); the browser picks by backend
 * (q4 where the fixture has it), Node's CPU by default fp32.
 */
export async function nodeExplanation(model: string, mode: ControlMode = 'multiplicative', prompt = PROMPT, target = TARGET, dtype?: string): Promise<Explanation> {
  const m = await AtmanModel.load(folderSource(`fixtures/models/${model}`), createNodeBackend(), { mode, ...(dtype ? { dtype: parseDtype(dtype) } : {}) });
  try {
    return await explain(m, { prompt, target, settings: { mode } });
  } finally {
    await m.release();
  }
}

/** Largest |score difference| between two explanations whose unit labels agree exactly. */
export function scoreDiff(a: Explanation, b: Explanation): number {
  if (a.units.length !== b.units.length) return Infinity;
  return a.units.reduce((m, u, i) => Math.max(m, Math.abs(u.score - b.units[i]!.score)), 0);
}
