// What the Node and browser benches share: the variants, the generated model, a result row.
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeModel } from '../src/graph/ir/onnx-ir';
import type { Explanation } from '../src/runtime/schema';
import { type Gpt2Dims, buildGpt2, gpt2Config } from './fixtures/gpt2';

/** The bench's prompt text (cut to the token count asked for) and target. */
export const BENCH_TEXT =
  'The committee met on Tuesday to review the budget. Several members asked about the new library, which had opened in March. ' +
  'The treasurer said the costs were higher than planned because the roof needed repairs. After a long discussion the members agreed ' +
  'to postpone the vote until the next meeting, when the architect could present a revised estimate for the work on the east wing. ';
export const BENCH_TARGET = ' The vote was postponed again because the estimate was late.';

export const VARIANTS = [
  { variant: 'naive', batchSize: 1, scoreHead: false, prefixReuse: false },
  { variant: 'batched', scoreHead: false, prefixReuse: false },
  { variant: 'batched+head', scoreHead: true, prefixReuse: false },
  { variant: 'batched+head+prefix', scoreHead: true, prefixReuse: true },
] as const;

/**
 * A GPT-2-shaped model with a key/value cache and random weights, in hub layout. The tiny
 * fixture's tokenizer comes along: its ids are a subset of any larger vocabulary, and the
 * benches measure the model, not the tokenizer.
 */
export function writeBenchModel(dir: string, dims: Gpt2Dims): void {
  cpSync('fixtures/models/tiny-gpt2', dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(gpt2Config(dims, 0, 0)));
  writeFileSync(join(dir, 'onnx/model.onnx'), encodeModel(buildGpt2(dims, { past: true }).model));
  rmSync(join(dir, 'onnx/model_q4.onnx'));
}

export interface BenchRow {
  variant: string;
  promptTokens: number;
  passes: number;
  batchSize: number;
  seconds: number;
  ratioToNaive: number;
  backend: string;
}

export function benchRow(variant: string, x: Explanation, naive: Explanation): BenchRow {
  return {
    variant,
    promptTokens: x.tokens.filter((t) => t.role === 'prompt').length,
    passes: x.passes,
    batchSize: x.run.batchSize,
    seconds: x.seconds,
    ratioToNaive: x.seconds / naive.seconds,
    backend: `${x.model.backend} (${x.model.device})`,
  };
}
