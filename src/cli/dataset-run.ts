// The loop of a dataset run (src/cli/dataset.ts says what the files hold): the cases of this
// shard not yet in the results file, each explained and appended before the next starts.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isAtmanError } from '../core/errors';
import type { Explanation } from '../runtime/schema';
import { type DatasetCase, ResultsWriter, type Shard, errorRecord, inShard, readDataset, resumeResults } from './dataset';

export interface DatasetRunOptions {
  dataset: string;
  /** the results file of this shard */
  out: string;
  shard: Shard | null;
  explainCase: (c: DatasetCase) => Promise<Explanation>;
  log?: (line: string) => void;
}

export interface DatasetRunSummary {
  /** cases of this shard */
  cases: number;
  /** already in the results file when the run started */
  resumed: number;
  explained: number;
  errors: number;
}

export async function runDataset(opts: DatasetRunOptions): Promise<DatasetRunSummary> {
  const all = readDataset(opts.dataset).filter((c) => inShard(c.index, opts.shard));
  const done = resumeResults(opts.out);
  const todo = all.filter((c) => !done.has(c.index));
  const summary: DatasetRunSummary = { cases: all.length, resumed: all.length - todo.length, explained: 0, errors: 0 };
  const where = opts.shard ? ` (shard ${opts.shard.index} of ${opts.shard.count})` : '';
  opts.log?.(`${all.length} cases${where}; ${summary.resumed} already in ${opts.out}, ${todo.length} to explain`);
  mkdirSync(dirname(opts.out), { recursive: true });
  const writer = new ResultsWriter(opts.out);
  try {
    for (const c of todo) {
      const base = { index: c.index, line: c.line, ...(c.id !== undefined ? { id: c.id } : {}) };
      if ('error' in c) {
        writer.append(errorRecord(base, c.error));
        summary.errors++;
        opts.log?.(`line ${c.line}: error [${c.error.code}] ${c.error.message}`);
        continue;
      }
      try {
        const explanation = await opts.explainCase(c);
        writer.append({ ...base, ok: true, explanation });
        summary.explained++;
        opts.log?.(`line ${c.line}: ${explanation.passes} passes in ${explanation.seconds.toFixed(2)} s`);
      } catch (e) {
        // A typed error belongs to this case (empty prompt, too long, unreadable image): record it and go on.
        if (!isAtmanError(e) || e.code === 'CANCELLED') throw e;
        writer.append(errorRecord(base, e));
        summary.errors++;
        opts.log?.(`line ${c.line}: error [${e.code}] ${e.message}`);
      }
    }
  } finally {
    writer.close();
  }
  return summary;
}
