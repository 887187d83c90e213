// How long the engine takes to refuse a prompt too long for the model (TOO_LONG), per prompt size.
// npx tsx scripts/measure-long-inputs.ts [--positions N] [MODEL_FOLDER] [CHARS ...]
// (default: fixtures/models/tiny-gpt2, 20000 50000 500000 characters). Prints one line per size;
// a printout, not a test: timings depend on the machine. --positions N runs a copy of the model
// whose config claims N positions, so that long prompts are tokenised in full (accepted, or
// refused by token count) instead of being refused by their character count.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAtmanError } from '../src/core/errors';
import { loadCliModel } from '../src/cli/load-model';
import { planUnits } from '../src/runtime/atman/prepare';
import { loadTokenizer } from '../src/runtime/model/text-tokenizer';
import { folderSource } from '../src/runtime/sources/folder-source';

const args = process.argv.slice(2);
const positions = args[0] === '--positions' ? Number(args.splice(0, 2)[1]) : null;
let folder = args[0] && !/^\d+$/.test(args[0]) ? args.shift()! : 'fixtures/models/tiny-gpt2';
let copy: string | null = null;
if (positions !== null) {
  copy = mkdtempSync(join(tmpdir(), 'atman-long-'));
  cpSync(folder, copy, { recursive: true });
  const config = JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8'));
  for (const k of ['max_position_embeddings', 'n_positions', 'n_ctx']) if (k in config) config[k] = positions;
  writeFileSync(join(copy, 'config.json'), JSON.stringify(config));
  folder = copy;
}
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
// The tokenizer alone, without a length limit: tokens with their character spans.
const unlimited = await loadTokenizer(folderSource(folder));
for (const chars of sizes) {
  const prompt = sample.repeat(Math.ceil(chars / sample.length)).slice(0, chars);
  const t0 = performance.now();
  const n = unlimited.encodePrompt(prompt).length;
  console.log(`${folder} ${chars} chars: ${n} tokens with spans in ${((performance.now() - t0) / 1000).toFixed(3)} s (no length limit)`);
}
if (copy) rmSync(copy, { recursive: true, force: true });
