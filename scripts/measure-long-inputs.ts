// How long the engine takes to refuse a prompt too long for the model (TOO_LONG), per prompt size.
// npx tsx scripts/measure-long-inputs.ts [MODEL_FOLDER] [CHARS ...]
// (default: fixtures/models/tiny-gpt2, 20000 50000 500000 characters). Prints one line per size;
// a printout, not a test: timings depend on the machine.
import { isAtmanError } from '../src/core/errors';
import { loadCliModel } from '../src/cli/load-model';
import { planUnits } from '../src/runtime/atman/prepare';

const args = process.argv.slice(2);
const folder = args[0] && !/^\d+$/.test(args[0]) ? args.shift()! : 'fixtures/models/tiny-gpt2';
const sizes = args.length ? args.map(Number) : [20_000, 50_000, 500_000];
const sample = 'The quick brown fox jumps over the lazy dog; naïve café — ¿qué tal? 👋🏽 שלום. ';

const model = await loadCliModel(folder, { selfCheck: false });
for (const chars of sizes) {
  const prompt = sample.repeat(Math.ceil(chars / sample.length)).slice(0, chars);
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let outcome: string;
  try {
    await planUnits(model, { prompt, target: ' and so on', settings: { kappa: null } });
    outcome = 'accepted';
  } catch (e) {
    outcome = isAtmanError(e) ? e.code : `untyped: ${(e as Error).message}`;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`${folder} ${chars} chars: ${outcome} in ${s.toFixed(3)} s (rss +${((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)} MB)`);
}
await model.release();
