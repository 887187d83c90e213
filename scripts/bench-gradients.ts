// The gradient section of npm run bench: each method in its own process (bench-gradient-run.ts) on
// the same model and prompt, so each peak resident set is that method's alone.
import { spawnSync } from 'node:child_process';

export interface GradientBenchRow {
  method: string;
  seconds: number;
  passes: number;
  batchSize: number;
  rssAfterLoad: number;
  peakRss: number;
  completeness: { relativeGap: number } | null;
}

const METHODS = ['atman', 'attention', 'input-x-gradient', 'integrated-gradients', 'chefer'];

export function gradientSection(dir: string, promptTokens: number, targetTokens: number, steps: number): GradientBenchRow[] {
  console.log(`\nGradient methods beside AtMan: ${promptTokens}-token prompt, ${targetTokens}-token target, integrated gradients with ${steps} steps (one fresh process each)`);
  const rows: GradientBenchRow[] = [];
  for (const method of METHODS) {
    const args = ['tsx', 'scripts/bench-gradient-run.ts', dir, method, String(promptTokens), String(targetTokens), ...(method === 'integrated-gradients' ? [String(steps)] : [])];
    const r = spawnSync('npx', args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (r.status !== 0 || !line) {
      console.log(`${method}: failed\n${r.stderr.slice(-2000)}`);
      continue;
    }
    const row = JSON.parse(line) as GradientBenchRow;
    rows.push(row);
    const mb = (b: number) => (b / 2 ** 20).toFixed(0);
    console.log(`${method.padEnd(22)} ${row.seconds.toFixed(2).padStart(8)} s  passes ${String(row.passes).padStart(4)}  batch ${String(row.batchSize).padStart(3)}  RSS before ${mb(row.rssAfterLoad)} MB, peak ${mb(row.peakRss)} MB (+${mb(row.peakRss - row.rssAfterLoad)} MB)${row.completeness ? `  completeness gap ${row.completeness.relativeGap.toExponential(1)}` : ''}`);
  }
  return rows;
}
