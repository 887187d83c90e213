// npm run explain -- --model <folder or hub id> --prompt "..." [--target "..." | --generate N] [--image FILE [--region L,T,W,H ...]] ...
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { AtmanError } from '../core/errors';
import { NUMBER_RULES, checkRunNumbers, parseDecimal, readNumber, readNumberList } from '../core/numbers';
import { parseByteSize } from '../core/memory-budget';
import type { Rect } from '../core/image-regions';
import { parseDuration } from '../core/auto-units';
import { DEFAULT_DRILL_TOP } from '../core/drill-down';
import { parseGranularity, validateSettings } from '../core/settings';
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
import { checkOutputFile, flagNumber, parseCliArgs } from './cli-args';
import { type DatasetCase, outPathFor, parseShard } from './dataset';
import { runDataset } from './dataset-run';
import { chatFlag, loadCliModel, parseBackend, runWhenMain } from './load-model';
import { renderExplanation } from './render';

const USAGE = `usage: npm run explain -- --model <folder or hub id> --prompt "..." [--target "..." | --generate N]
       npm run explain -- --model <folder or hub id> --dataset cases.jsonl --out results.jsonl [--shard K/N | auto/N]
  [--image FILE [--region LEFT,TOP,WIDTH,HEIGHT ...]]
  [--mode multiplicative|log-additive] [--factor F] [--kappa K|off]
  [--granularity token|word|sentence|paragraph|delimiter:X|auto] [--time-budget 30s] [--target-granularity complete|token]
  [--drill-down [--drill-top K] [--drill-share S]]
  [--postprocess none|absolute|square] [--layers 0,1,...] [--dtype auto|fp32|q8|q4|fp16|q4f16] [--revision REV]
  [--chat | --no-chat] [--batch-size N | --memory-budget SIZE (e.g. 512MiB, 2GB)] [--no-prefix-reuse] [--no-score-head] [--no-self-check] [--coupled-numerics exact|dequantized]
  [--attention auto|fused|decomposed]
  [--method atman|attention|rollout|occlusion-delete|occlusion-mask|input-x-gradient|integrated-gradients|chefer]
  [--steps N (integrated-gradients, default 50)] [--faithfulness] [--json FILE] [--backend cpu|cuda]`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseCliArgs(argv, {
      model: { type: 'string' },
      prompt: { type: 'string' },
      target: { type: 'string' },
      generate: { type: 'string' },
      mode: { type: 'string' },
      factor: { type: 'string' },
      kappa: { type: 'string' },
      granularity: { type: 'string' },
      'time-budget': { type: 'string' },
      'drill-down': { type: 'boolean' },
      'drill-top': { type: 'string' },
      'drill-share': { type: 'string' },
      'target-granularity': { type: 'string' },
      postprocess: { type: 'string' },
      layers: { type: 'string' },
      dtype: { type: 'string' },
      revision: { type: 'string' },
      'batch-size': { type: 'string' },
      'memory-budget': { type: 'string' },
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
      dataset: { type: 'string' },
      out: { type: 'string' },
      shard: { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
  });
  // A captioner may be explained from its start token alone, so an image makes the prompt optional.
  const prompt = values.prompt ?? (values.image !== undefined ? '' : undefined);
  const dataset = values.dataset !== undefined;
  if (values.help || !values.model || (!dataset && (prompt === undefined || (values.target === undefined && values.generate === undefined)))) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (dataset) checkDatasetFlags(values);
  if (!dataset && (values.out !== undefined || values.shard !== undefined)) throw new AtmanError('BAD_SETTING', '--out and --shard belong to a dataset run: give --dataset FILE too.');
  const shard = values.shard === undefined ? null : parseShard(values.shard);
  parseBackend(values.backend);
  const regions = (values.region ?? []).map(parseRegion);
  if (regions.length && values.image === undefined) throw new AtmanError('BAD_SETTING', '--region marks part of an image: give the image with --image FILE.');
  if (values.image !== undefined && values.generate !== undefined) {
    throw new AtmanError('BAD_SETTING', '--generate continues text prompts only; with --image, give the text to explain with --target.');
  }
  // Every number and the output file are checked before the model loads or the image is decoded,
  // so a typo costs no download and the JSON is never lost after a whole run.
  const generate = flagNumber(values.generate, '--generate', NUMBER_RULES.generate);
  const batchSize = flagNumber(values['batch-size'], '--batch-size', NUMBER_RULES.batchSize);
  if (values.json !== undefined) checkOutputFile(values.json, '--json');
  const settings: Partial<ExplainSettings> = {};
  if (values.factor !== undefined) settings.factor = readNumber(values.factor, NUMBER_RULES.factor, '--factor');
  if (values.kappa !== undefined) settings.kappa = values.kappa === 'off' ? null : readNumber(values.kappa, NUMBER_RULES.kappa, '--kappa (or off)');
  if (values.layers !== undefined) settings.layers = readNumberList(values.layers, NUMBER_RULES.layer, 'Each of --layers');
  // Read and checked before the model loads, so a wrong file fails fast.
  const image = values.image === undefined ? undefined : await readImage(values.image, regions);
  const method = parseMethod(values.method);
  if (method !== 'atman' && (values['drill-down'] || values.granularity?.trim().toLowerCase() === 'auto')) {
    throw new AtmanError('BAD_SETTING', '--drill-down and --granularity auto run AtMan passes; leave them out with --method ' + method + '.');
  }
  const memoryBudgetBytes = values['memory-budget'] === undefined ? undefined : parseByteSize(values['memory-budget']);
  if (memoryBudgetBytes !== undefined) checkRunNumbers({ memoryBudgetBytes });
  const steps = values.steps === undefined ? undefined : readNumber(values.steps, NUMBER_RULES.steps, '--steps');
  if (steps !== undefined && method !== 'integrated-gradients') throw new AtmanError('BAD_SETTING', '--steps sets the integration steps of --method integrated-gradients.');
  const coupledNumerics = parseCoupledNumerics(values['coupled-numerics']);
  if (values.mode) settings.mode = values.mode as ExplainSettings['mode'];
  const auto = values.granularity?.trim().toLowerCase() === 'auto';
  if (values.granularity && !auto) settings.granularity = parseGranularity(values.granularity);
  if (values['time-budget'] !== undefined && !auto) throw new AtmanError('BAD_SETTING', '--time-budget is what --granularity auto plans for; add --granularity auto.');
  if (auto && values['time-budget'] === undefined) throw new AtmanError('BAD_SETTING', '--granularity auto picks the units from a time budget: add --time-budget, e.g. --time-budget 30s.');
  const autoUnits = auto ? { budgetSeconds: parseDuration(values['time-budget']!) } : undefined;
  if (values['drill-top'] !== undefined && !values['drill-down']) throw new AtmanError('BAD_SETTING', '--drill-top sets how many units a drill-down refines; add --drill-down.');
  if (values['drill-share'] !== undefined && !values['drill-down']) throw new AtmanError('BAD_SETTING', '--drill-share sets which units a drill-down refines; add --drill-down.');
  if (values['drill-down']) {
    // Drill-down starts at sentences unless another level is asked for.
    if (!values.granularity) settings.granularity = { kind: 'sentence' };
    const top = values['drill-top'] === undefined ? DEFAULT_DRILL_TOP : parseDecimal(values['drill-top'], true);
    const share = values['drill-share'] === undefined ? undefined : parseDecimal(values['drill-share']);
    if (Number.isNaN(share)) throw new AtmanError('BAD_SETTING', `--drill-share takes a number from 0 to 1 (the share of the strongest unit's score a unit needs to be refined); got ${JSON.stringify(values['drill-share'])}.`);
    settings.drillDown = { top, ...(share !== undefined ? { share } : {}) };
  }
  if (values['target-granularity']) settings.targetGranularity = values['target-granularity'] as ExplainSettings['targetGranularity'];
  if (values.postprocess) settings.postprocess = values.postprocess as ExplainSettings['postprocess'];
  const chat = chatFlag(values);
  if (chat !== undefined) settings.chat = chat;
  validateSettings(settings);

  const model = await loadCliModel(values.model, {
    ...(values.dtype ? { dtype: values.dtype } : {}),
    ...(values.revision ? { revision: values.revision } : {}),
    ...(values.attention ? { attention: values.attention } : {}),
    ...(values.backend ? { backend: values.backend } : {}),
    mode: settings.mode ?? 'multiplicative',
    layers: settings.layers ?? null,
    selfCheck: !values['no-self-check'],
  });
  try {
    if (dataset) {
      const explainCase = async (c: DatasetCase): Promise<Explanation> => {
        const img = c.image === undefined ? undefined : await readImage(c.image, c.regions ?? []);
        const request = { prompt: c.prompt, target: c.target, settings: { ...settings, ...(c.granularity ? { granularity: c.granularity } : {}) }, ...(img ? { image: img } : {}), ...(memoryBudgetBytes ? { memoryBudgetBytes } : {}), ...(batchSize !== undefined ? { batchSize } : {}) };
        return method === 'atman'
          ? explain(model, { ...request, prefixReuse: !values['no-prefix-reuse'], scoreHead: !values['no-score-head'], coupledNumerics })
          : explainComparison(model, { ...request, method });
      };
      const out = outPathFor(values.out!, shard);
      const s = await runDataset({ dataset: values.dataset!, out, shard, explainCase, log: (line) => process.stderr.write(`${line}\n`) });
      process.stdout.write(`${s.cases} cases: ${s.resumed} resumed, ${s.explained} explained, ${s.errors} error records in ${out}\n`);
      return 0;
    }
    if (prompt === undefined) throw new AtmanError('EMPTY_PROMPT', 'Give the prompt to explain with --prompt.');
    let target = values.target;
    if (target === undefined) target = await generateGreedy(model, prompt, generate!, undefined, undefined, { chat: settings.chat ?? true });
    const progressTty = process.stderr.isTTY;
    const request = {
      prompt,
      target,
      settings,
      ...(image ? { image } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
      ...(memoryBudgetBytes ? { memoryBudgetBytes } : {}),
      onProgress: (p: { loaded: number; total: number }) => progressTty && process.stderr.write(`\r${p.loaded}/${p.total} passes`),
    };
    const result: Explanation =
      method === 'atman'
        ? await explain(model, { ...request, prefixReuse: !values['no-prefix-reuse'], scoreHead: !values['no-score-head'], coupledNumerics, ...(autoUnits ? { autoUnits } : {}) })
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

/** Flags that describe one prompt make no sense beside a dataset, whose lines carry their own. */
function checkDatasetFlags(values: Record<string, unknown>): void {
  const clash = ['prompt', 'target', 'generate', 'image', 'region', 'json', 'faithfulness'].filter((k) => values[k] !== undefined);
  if (clash.length) throw new AtmanError('BAD_SETTING', `--dataset takes each case's prompt, target and image from its lines; leave out ${clash.map((k) => `--${k}`).join(', ')}.`);
  if (values.out === undefined) throw new AtmanError('BAD_SETTING', '--dataset needs --out FILE, the JSON-lines file the results are appended to.');
  // Checked before the model loads, so a wrong path fails fast.
  if (!existsSync(values.dataset as string)) throw new AtmanError('BAD_SETTING', `Cannot read the dataset ${values.dataset as string}: no such file.`);
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
  const read = (s: string): number => {
    try {
      return readNumber(s, NUMBER_RULES.pixel);
    } catch {
      return NaN;
    }
  };
  const [left, top, width, height] = parts.map(read) as [number, number, number, number];
  if (parts.length !== 4 || ![left, top, width, height].every(Number.isFinite) || !(width > 0 && height > 0)) {
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
