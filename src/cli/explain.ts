// npm run explain -- --model <folder or hub id> --prompt "..." [--target "..." | --generate N] [--image FILE [--region L,T,W,H ...]] ...
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { AtmanError } from '../core/errors';
import type { Rect } from '../core/image-regions';
import { parseGranularity } from '../core/settings';
import type { ExplainSettings } from '../core/types';
import { explainComparison } from '../runtime/compare/comparison-methods';
import { COMPARISON_METHODS } from '../runtime/schema';
import { COUPLED_NUMERICS, type CoupledNumerics } from '../runtime/atman/coupled-numerics';
import { explain } from '../runtime/atman/explain';
import { generateGreedy } from '../runtime/atman/generate';
import { type Explanation, type ExplanationMethod } from '../runtime/schema';
import { type FaithfulnessReport, measureFaithfulness } from '../runtime/compare/faithfulness';
import type { ImageRequest } from '../runtime/image/image-passes';
import { decodeImage } from '../runtime/image/decode-image';
import { chatFlag, loadCliModel, runWhenMain } from './load-model';
import { renderExplanation } from './render';

const USAGE = `usage: npm run explain -- --model <folder or hub id> --prompt "..." [--target "..." | --generate N]
  [--image FILE [--region LEFT,TOP,WIDTH,HEIGHT ...]]
  [--mode multiplicative|log-additive] [--factor F] [--kappa K|off]
  [--granularity token|word|sentence|paragraph|delimiter:X] [--target-granularity complete|token]
  [--postprocess none|absolute|square] [--layers 0,1,...] [--dtype auto|fp32|q8|q4|fp16|q4f16] [--revision REV]
  [--chat | --no-chat] [--batch-size N] [--no-prefix-reuse] [--no-score-head] [--no-self-check] [--coupled-numerics exact|dequantized]
  [--attention auto|fused|decomposed]
  [--method atman|attention|rollout|occlusion-delete|occlusion-mask|input-x-gradient|integrated-gradients|chefer]
  [--steps N (integrated-gradients, default 50)] [--faithfulness] [--json FILE]`;

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
      revision: { type: 'string' },
      'batch-size': { type: 'string' },
      'no-self-check': { type: 'boolean' },
      'no-prefix-reuse': { type: 'boolean' },
      'no-score-head': { type: 'boolean' },
      'coupled-numerics': { type: 'string' },
      attention: { type: 'string' },
      json: { type: 'string' },
      image: { type: 'string' },
      region: { type: 'string', multiple: true },
      method: { type: 'string' },
      steps: { type: 'string' },
      faithfulness: { type: 'boolean' },
      chat: { type: 'boolean' },
      'no-chat': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  // A captioner may be explained from its start token alone, so an image makes the prompt optional.
  const prompt = values.prompt ?? (values.image !== undefined ? '' : undefined);
  if (values.help || !values.model || prompt === undefined || (values.target === undefined && values.generate === undefined)) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const regions = (values.region ?? []).map(parseRegion);
  if (regions.length && values.image === undefined) throw new AtmanError('BAD_SETTING', '--region marks part of an image: give the image with --image FILE.');
  if (values.image !== undefined && values.generate !== undefined) {
    throw new AtmanError('BAD_SETTING', '--generate continues text prompts only; with --image, give the text to explain with --target.');
  }
  // Read and checked before the model loads, so a wrong file fails fast.
  const image = values.image === undefined ? undefined : await readImage(values.image, regions);
  const method = parseMethod(values.method);
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  if (steps !== undefined && method !== 'integrated-gradients') throw new AtmanError('BAD_SETTING', '--steps sets the integration steps of --method integrated-gradients.');
  const coupledNumerics = parseCoupledNumerics(values['coupled-numerics']);
  const settings: Partial<ExplainSettings> = {};
  if (values.mode) settings.mode = values.mode as ExplainSettings['mode'];
  if (values.factor !== undefined) settings.factor = Number(values.factor);
  if (values.kappa !== undefined) settings.kappa = values.kappa === 'off' ? null : Number(values.kappa);
  if (values.granularity) settings.granularity = parseGranularity(values.granularity);
  if (values['target-granularity']) settings.targetGranularity = values['target-granularity'] as ExplainSettings['targetGranularity'];
  if (values.postprocess) settings.postprocess = values.postprocess as ExplainSettings['postprocess'];
  if (values.layers) settings.layers = values.layers.split(',').map((s) => Number(s.trim()));
  const chat = chatFlag(values);
  if (chat !== undefined) settings.chat = chat;

  const model = await loadCliModel(values.model, {
    ...(values.dtype ? { dtype: values.dtype } : {}),
    ...(values.revision ? { revision: values.revision } : {}),
    ...(values.attention ? { attention: values.attention } : {}),
    mode: settings.mode ?? 'multiplicative',
    layers: settings.layers ?? null,
    selfCheck: !values['no-self-check'],
  });
  try {
    let target = values.target;
    if (target === undefined) {
      const n = Number(values.generate);
      if (!Number.isInteger(n) || n < 1) throw new Error('--generate takes a whole number of tokens');
      target = await generateGreedy(model, prompt, n, undefined, undefined, { chat: settings.chat ?? true });
    }
    const progressTty = process.stderr.isTTY;
    const request = {
      prompt,
      target,
      settings,
      ...(image ? { image } : {}),
      ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
      onProgress: (p: { loaded: number; total: number }) => progressTty && process.stderr.write(`\r${p.loaded}/${p.total} passes`),
    };
    const result: Explanation =
      method === 'atman'
        ? await explain(model, { ...request, prefixReuse: !values['no-prefix-reuse'], scoreHead: !values['no-score-head'], coupledNumerics })
        : await explainComparison(model, { ...request, method, ...(steps !== undefined ? { steps } : {}) });
    if (progressTty) process.stderr.write('\n');
    process.stdout.write(`${renderExplanation(result, { color: Boolean(process.stdout.isTTY) })}\n`);
    let faithfulness: FaithfulnessReport | undefined;
    if (values.faithfulness) {
      faithfulness = await measureFaithfulness(model, { ...result, ...(image ? { imageInput: image } : {}) }, { prefixReuse: !values['no-prefix-reuse'], coupledNumerics });
      if (progressTty) process.stderr.write('\n');
      process.stdout.write(`${renderFaithfulness(faithfulness)}\n`);
    }
    if (values.json) await writeFile(values.json, `${JSON.stringify(faithfulness ? { ...result, faithfulness } : result, null, 2)}\n`);
    return 0;
  } finally {
    await model.release();
  }
}

function parseMethod(text: string | undefined): ExplanationMethod {
  if (text === undefined || text === 'atman') return 'atman';
  if ((COMPARISON_METHODS as readonly string[]).includes(text)) return text as ExplanationMethod;
  throw new AtmanError('BAD_SETTING', `--method is one of atman, ${COMPARISON_METHODS.join(', ')} (got "${text}").`);
}

function renderFaithfulness(f: FaithfulnessReport): string {
  const n = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(4);
  const curve = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' ');
  return [
    `faithfulness (units removed with factor ${f.removalFactor}; p = joint target probability):`,
    `  k          ${f.ks.join(' ')}`,
    `  deletion   ${curve(f.deletion)}`,
    `  insertion  ${curve(f.insertion)}`,
    `  AOPC ${n(f.aopc)}  ABPC ${n(f.abpc)}  random ABPC ${f.randomAbpc === null ? '-' : n(f.randomAbpc)} (${f.passes} passes, ${f.seconds.toFixed(2)} s)`,
  ].join('\n');
}

/** LEFT,TOP,WIDTH,HEIGHT in the image's own pixels. */
export function parseRegion(text: string): Rect {
  const parts = text.split(',').map((s) => s.trim());
  const [left, top, width, height] = parts.map(Number) as [number, number, number, number];
  if (parts.length !== 4 || parts.some((s) => s === '') || ![left, top, width, height].every(Number.isFinite) || !(width > 0 && height > 0)) {
    throw new AtmanError('BAD_SETTING', `--region takes LEFT,TOP,WIDTH,HEIGHT in pixels of the image, width and height above 0 (got "${text}").`);
  }
  return { left, top, width, height };
}

async function readImage(file: string, regions: Rect[]): Promise<ImageRequest> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new AtmanError('BAD_SETTING', `Cannot read the image file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}.`);
  }
  const decoded = await decodeImage(bytes, { filename: basename(file) });
  return { image: decoded, regions: regions.map((rect) => ({ kind: 'rect' as const, rect })) };
}

runWhenMain(import.meta.url, 'src/cli/explain.ts', main);

function parseCoupledNumerics(s: string | undefined): CoupledNumerics {
  if (s === undefined) return 'exact';
  if (!(COUPLED_NUMERICS as readonly string[]).includes(s)) {
    throw new AtmanError('BAD_SETTING', `--coupled-numerics takes ${COUPLED_NUMERICS.join(' or ')}, not "${s}".`);
  }
  return s as CoupledNumerics;
}
