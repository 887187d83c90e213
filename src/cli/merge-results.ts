// npm run merge-results -- --out results.jsonl [--dataset cases.jsonl] part-0.jsonl part-1.jsonl ...
// Joins the results files of a sharded dataset run into one, in dataset line order. With
// --dataset it also checks that every case has exactly one record and exits 1 naming the lines
// that have none (a shard that has not finished: run it again, it resumes).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AtmanError } from '../core/errors';
import { type DatasetRecord, readDataset } from './dataset';
import { runWhenMain } from './load-model';

const USAGE = 'usage: npm run merge-results -- --out FILE [--dataset cases.jsonl] RESULTS...';

export interface MergeSummary {
  records: number;
  /** records of a line already seen in an earlier file (the first is kept) */
  duplicates: number;
  /** 1-based dataset lines without a record (only with a dataset) */
  missing: number[];
}

export function mergeResults(files: readonly string[], out: string, dataset?: string): MergeSummary {
  const byIndex = new Map<number, string>();
  let duplicates = 0;
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((raw, i) => {
      if (raw.trim() === '') return;
      let r: Partial<DatasetRecord>;
      try {
        r = JSON.parse(raw) as Partial<DatasetRecord>;
      } catch {
        // A shard still writing may end in a cut line; any other damaged line is an error.
        if (i === lines.length - 1) return;
        throw new AtmanError('DATASET_RESULTS_DAMAGED', `Line ${i + 1} of ${file} is not a result record.`);
      }
      if (typeof r.index !== 'number') throw new AtmanError('DATASET_RESULTS_DAMAGED', `Line ${i + 1} of ${file} has no line index.`);
      if (byIndex.has(r.index)) duplicates++;
      else byIndex.set(r.index, raw);
    });
  }
  const missing = dataset ? readDataset(dataset).filter((c) => !byIndex.has(c.index)).map((c) => c.line) : [];
  const sorted = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, raw]) => raw);
  writeFileSync(out, sorted.length ? `${sorted.join('\n')}\n` : '');
  return { records: sorted.length, duplicates, missing };
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, dataset: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || !values.out || positionals.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const s = mergeResults(positionals, values.out, values.dataset);
  process.stdout.write(`${s.records} records from ${positionals.length} files into ${values.out}${s.duplicates ? ` (${s.duplicates} duplicates left out)` : ''}\n`);
  if (s.missing.length) {
    const shown = s.missing.slice(0, 10).join(', ');
    process.stderr.write(`error: ${s.missing.length} dataset lines have no result yet (lines ${shown}${s.missing.length > 10 ? ', ...' : ''}); rerun their shards, they resume\n`);
    return 1;
  }
  return 0;
}

runWhenMain(import.meta.url, 'src/cli/merge-results.ts', main);
