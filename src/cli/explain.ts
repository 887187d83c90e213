// npm run explain -- --model <folder or hub id> --prompt "..." [--target "..." | --generate N] ...
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isAtmanError } from '../core/errors';
import { parseGranularity } from '../core/settings';
import type { ExplainSettings } from '../core/types';
import { type Explanation, explain, generateGreedy } from '../runtime/explain';
import { loadCliModel } from './load-model';
import { renderExplanation } from './render';

const USAGE = `usage: npm run explain -- --model <folder or hub id> --prompt "..." [--target "..." | --generate N]
  [--mode multiplicative|log-additive] [--factor F] [--kappa K|off]
  [--granularity token|word|sentence|paragraph|delimiter:X] [--target-granularity complete|token]
  [--postprocess none|absolute|square] [--layers 0,1,...] [--dtype fp32|q8|q4|fp16|q4f16]
  [--batch-size N] [--no-prefix-reuse] [--no-score-head] [--no-self-check] [--json FILE]`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      target: { type: 'string' },
      generate: { type: 'string' },
      mode: { type: 'string' },
      factor: { type: 'string' },
      kappa: { type: 'string' },
      granularity: { type: 'string' },
      'target-granularity': { type: 'string' },
      postprocess: { type: 'string' },
      layers: { type: 'string' },
      dtype: { type: 'string' },
      'batch-size': { type: 'string' },
      'no-self-check': { type: 'boolean' },
      'no-prefix-reuse': { type: 'boolean' },
      'no-score-head': { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help || !values.model || values.prompt === undefined || (values.target === undefined && values.generate === undefined)) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const settings: Partial<ExplainSettings> = {};
  if (values.mode) settings.mode = values.mode as ExplainSettings['mode'];
  if (values.factor !== undefined) settings.factor = Number(values.factor);
  if (values.kappa !== undefined) settings.kappa = values.kappa === 'off' ? null : Number(values.kappa);
  if (values.granularity) settings.granularity = parseGranularity(values.granularity);
  if (values['target-granularity']) settings.targetGranularity = values['target-granularity'] as ExplainSettings['targetGranularity'];
  if (values.postprocess) settings.postprocess = values.postprocess as ExplainSettings['postprocess'];
  if (values.layers) settings.layers = values.layers.split(',').map((s) => Number(s.trim()));

  const model = await loadCliModel(values.model, {
    ...(values.dtype ? { dtype: values.dtype } : {}),
    mode: settings.mode ?? 'multiplicative',
    layers: settings.layers ?? null,
    selfCheck: !values['no-self-check'],
  });
  try {
    let target = values.target;
    if (target === undefined) {
      const n = Number(values.generate);
      if (!Number.isInteger(n) || n < 1) throw new Error('--generate takes a whole number of tokens');
      target = await generateGreedy(model, values.prompt, n);
    }
    const progressTty = process.stderr.isTTY;
    const result: Explanation = await explain(model, {
      prompt: values.prompt,
      target,
      settings,
      ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
      prefixReuse: !values['no-prefix-reuse'],
      scoreHead: !values['no-score-head'],
      onProgress: (p) => progressTty && process.stderr.write(`\r${p.loaded}/${p.total} passes`),
    });
    if (progressTty) process.stderr.write('\n');
    process.stdout.write(`${renderExplanation(result, { color: Boolean(process.stdout.isTTY) })}\n`);
    if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await model.release();
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/cli/explain.ts')) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const msg = isAtmanError(e) ? `error [${e.code}]: ${e.message}` : `error: ${(e as Error).message}`;
      process.stderr.write(`${msg}\n`);
      process.exit(1);
    },
  );
}
