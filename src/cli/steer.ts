// npm run steer -- --model <folder or hub id> --prompt "..." --steer "text=FACTOR" ... [--json FILE]
import { writeFile } from 'node:fs/promises';
import { AtmanError } from '../core/errors';
import { NUMBER_RULES, readNumber, readNumberList } from '../core/numbers';
import { validateSettings } from '../core/settings';
import type { ControlMode, TokenOverlap } from '../core/types';
import { type SteerResult, type SteerRun, type SteerUnit, steer } from '../runtime/atman/steer';
import { checkOutputFile, flagNumber, parseCliArgs } from './cli-args';
import { chatFlag, loadCliModel, runWhenMain } from './load-model';

const USAGE = `usage: npm run steer -- --model <folder or hub id> --prompt "..." --steer "TEXT=FACTOR" [--steer ...]
  [--steer-span START-END=FACTOR] [--steer-tokens P1,P2=FACTOR] [--max-new-tokens N (20)]
  [--mode multiplicative|log-additive] [--layers 0,1,...] [--token-overlap complete|partial]
  [--chat | --no-chat] [--dtype auto|fp32|q8|q4|fp16|q4f16] [--revision REV] [--no-self-check] [--json FILE]
FACTOR: 0 ignores that part of the prompt, between 0 and 1 weakens it, above 1 amplifies it.
--steer steers every occurrence of TEXT in the prompt (the last "=" separates the factor).
--no-chat reads the prompt as raw text even when the model has a chat template (--steer-tokens positions count the template's tokens).`;

const bad = (message: string): never => {
  throw new AtmanError('BAD_SETTING', message);
};

/** Splits "WHAT=FACTOR" at the last "=" and reads the factor. */
export function splitFactor(arg: string, flag: string): { what: string; factor: number } {
  const eq = arg.lastIndexOf('=');
  if (eq < 0) bad(`${flag} "${arg}" has no factor; write it as WHAT=FACTOR, e.g. ${flag} "cat=0" or ${flag} "cat=2.5".`);
  const raw = arg.slice(eq + 1).trim();
  return { what: arg.slice(0, eq), factor: readNumber(raw, NUMBER_RULES.steerFactor, `The factor in ${flag} "${arg.length > 40 ? `${arg.slice(0, 39)}…` : arg}"`) };
}

/** The steering units of the --steer, --steer-span and --steer-tokens flags, in that order. */
export function parseSteerFlags(flags: { steer?: string[]; 'steer-span'?: string[]; 'steer-tokens'?: string[] }): SteerUnit[] {
  const units: SteerUnit[] = [];
  for (const arg of flags.steer ?? []) {
    const { what, factor } = splitFactor(arg, '--steer');
    if (what === '') bad(`--steer "${arg}" names no text before the "="; write TEXT=FACTOR.`);
    units.push({ text: what, factor });
  }
  for (const arg of flags['steer-span'] ?? []) {
    const { what, factor } = splitFactor(arg, '--steer-span');
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(what);
    if (!m) bad(`Cannot read the span "${what}" in --steer-span "${arg}"; write START-END=FACTOR with character offsets, e.g. 4-7=0.`);
    units.push({ span: [readNumber(m![1]!, NUMBER_RULES.offset, '--steer-span START'), readNumber(m![2]!, NUMBER_RULES.offset, '--steer-span END')], factor });
  }
  for (const arg of flags['steer-tokens'] ?? []) {
    const { what, factor } = splitFactor(arg, '--steer-tokens');
    const parts = what.split(',').map((s) => s.trim());
    if (parts.some((p) => !/^\d+$/.test(p))) bad(`Cannot read the token positions "${what}" in --steer-tokens "${arg}"; write P1,P2=FACTOR, e.g. 1,2=0.`);
    units.push({ positions: parts.map((p) => readNumber(p, NUMBER_RULES.position, 'Each --steer-tokens position')), factor });
  }
  return units;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseCliArgs(argv, {
      model: { type: 'string' },
      prompt: { type: 'string' },
      steer: { type: 'string', multiple: true },
      'steer-span': { type: 'string', multiple: true },
      'steer-tokens': { type: 'string', multiple: true },
      'max-new-tokens': { type: 'string' },
      mode: { type: 'string' },
      layers: { type: 'string' },
      'token-overlap': { type: 'string' },
      chat: { type: 'boolean' },
      'no-chat': { type: 'boolean' },
      dtype: { type: 'string' },
      revision: { type: 'string' },
      'no-self-check': { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
  });
  const units = parseSteerFlags(values);
  if (values.help || !values.model || values.prompt === undefined || units.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const chat = chatFlag(values);
  // Checked before the model loads, so a typo costs no download and the JSON is never lost after a run.
  const maxNewTokens = flagNumber(values['max-new-tokens'], '--max-new-tokens', NUMBER_RULES.maxNewTokens) ?? 20;
  if (values.json !== undefined) checkOutputFile(values.json, '--json');
  const { mode, layers } = validateSettings({
    mode: (values.mode ?? 'multiplicative') as ControlMode,
    layers: values.layers !== undefined ? readNumberList(values.layers, NUMBER_RULES.layer, 'Each of --layers') : null,
  });

  const model = await loadCliModel(values.model, {
    ...(values.dtype ? { dtype: values.dtype } : {}),
    ...(values.revision ? { revision: values.revision } : {}),
    mode,
    layers,
    selfCheck: !values['no-self-check'],
  });
  try {
    const result = await steer(model, {
      prompt: values.prompt,
      units,
      maxNewTokens,
      mode,
      layers,
      ...(values['token-overlap'] ? { tokenOverlap: values['token-overlap'] as TokenOverlap } : {}),
      ...(chat !== undefined ? { chat } : {}),
    });
    process.stdout.write(`${renderSteering(result)}\n`);
    if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await model.release();
  }
}

/** Both generations, then each step: the chosen token, its probability, and the probability this run gave the other run's token. */
export function renderSteering(r: SteerResult): string {
  const lines = [
    `prompt: ${JSON.stringify(r.prompt)}`,
    `steering (${r.mode}${r.layers ? `, layers ${r.layers.join(',')}` : ''}):`,
    ...r.units.map((u) => `  ${JSON.stringify(u.label)} x ${u.factor}  (tokens ${u.positions.join(',')}${u.spans && u.spans.length > 1 ? `; ${u.spans.length} occurrences` : ''})`),
    '',
    `unsteered: ${JSON.stringify(r.unsteered.text)}${stopNote(r.unsteered)}`,
    `steered:   ${JSON.stringify(r.steered.text)}${stopNote(r.steered)}`,
    '',
    'step  unsteered token  p (p of steered token)      steered token  p (p of unsteered token)',
  ];
  const n = Math.max(r.unsteered.tokens.length, r.steered.tokens.length);
  const cell = (t: SteerRun['tokens'][number] | undefined): string =>
    t ? `${(t.eos ? '[end]' : JSON.stringify(t.text)).padStart(15)}  ${t.probability.toFixed(3)} (${t.other ? t.other.probability.toFixed(3) : '  -  '})` : ''.padStart(29);
  for (let i = 0; i < n; i++) lines.push(`${String(i + 1).padStart(4)}  ${cell(r.unsteered.tokens[i])}      ${cell(r.steered.tokens[i])}`);
  lines.push('', `${r.seconds.toFixed(2)} s on ${r.model.backend} [${r.model.device}]`);
  return lines.join('\n');
}

const stopNote = (run: SteerRun): string => (run.stop === 'max-new-tokens' ? '' : run.stop === 'eos' ? '  (ended)' : '  (model length reached)');

runWhenMain(import.meta.url, 'src/cli/steer.ts', main);
