// Steering (docs/method.md, "Steering"): greedy generation with the attention control held on chosen prompt
// columns at every step, next to the same generation without it. Like the reference, every step
// recomputes the whole sequence; the columns of generated tokens always keep factor 1.
// Factor 0 makes the model ignore a part of the prompt, (0, 1) weakens it, > 1 amplifies it (in
// multiplicative mode the score becomes phi*s + (1-phi)*m, pushed away from the row minimum; in
// log-additive mode log(phi) > 0 is added).
import { AtmanError } from '../../core/errors';
import { NUMBER_RULES, checkNumber } from '../../core/numbers';
import { validateSettings } from '../../core/settings';
import type { ControlMode, TokenInfo, TokenOverlap } from '../../core/types';
import { buildUnits } from '../../core/units';
import type { AtmanModel, ModelFacts } from './atman-model';
import { buildFeeds } from './feeds';
import { floatData } from '../backends/tensor-data';
import { stopIds, textPromptTokens } from '../model/chat-template';

export const STEER_SCHEMA_VERSION = 1;

/** One steered part of the prompt: exactly one of text, span or positions, and its factor. */
export interface SteerUnit {
  /** every occurrence of this text in the prompt */
  text?: string;
  /** character offsets [start, end) in the prompt */
  span?: [number, number];
  /** prompt token positions (0-based, added special tokens such as BOS included) */
  positions?: number[];
  factor: number;
}

export interface SteerRequest {
  prompt: string;
  units: SteerUnit[];
  maxNewTokens: number;
  mode?: ControlMode;
  layers?: number[] | null;
  /** a span covering part of a token: full factor ('complete', default) or scaled by the covered share */
  tokenOverlap?: TokenOverlap;
  /** the prompt as the user's turn of the model's chat template, when it has one (default true); generation then ends at the end of the assistant's turn */
  chat?: boolean;
  signal?: AbortSignal;
  onStep?: (e: SteerStepEvent) => void;
}

export interface SteerToken {
  id: number;
  text: string;
  /** probability of this token in this run's next-token distribution */
  probability: number;
  /** the other run's token at the same step, and the probability this run gave it; null once the other run has stopped */
  other: { id: number; probability: number } | null;
  /** the end-of-sequence token: the run stops here, and it is not part of `text` */
  eos?: true;
}

export interface SteerRun {
  /** the decoded continuation (end-of-sequence token excluded) */
  text: string;
  ids: number[];
  tokens: SteerToken[];
  stop: 'eos' | 'max-new-tokens' | 'max-positions';
}

export interface SteerStepEvent {
  step: number;
  steered: SteerToken | null;
  unsteered: SteerToken | null;
}

export interface ResolvedSteerUnit {
  label: string;
  factor: number;
  /** character spans the unit was given as, or found at; null for token positions */
  spans: Array<[number, number]> | null;
  positions: number[];
  /** [position, factor] of each steered column */
  factors: Array<[number, number]>;
}

export interface SteerResult {
  schemaVersion: number;
  prompt: string;
  mode: ControlMode;
  layers: number[] | null;
  maxNewTokens: number;
  /** `template`: written by the chat template, not by the user (token positions count these too) */
  promptTokens: Array<Pick<TokenInfo, 'id' | 'text' | 'start' | 'end'> & { special?: boolean; template?: true }>;
  units: ResolvedSteerUnit[];
  steered: SteerRun;
  unsteered: SteerRun;
  model: ModelFacts;
  seconds: number;
}

const bad = (message: string): never => {
  throw new AtmanError('BAD_SETTING', message);
};

/**
 * Column factors of the prompt (length = prompt tokens) for the steering units, and what each unit
 * resolved to. A column claimed by two units is refused: which factor should win is the user's call.
 */
export function steeringColumns(
  tokens: readonly TokenInfo[],
  prompt: string,
  units: readonly SteerUnit[],
  tokenOverlap: TokenOverlap = 'complete',
): { factors: Float32Array; units: ResolvedSteerUnit[] } {
  if (units.length === 0) bad('Name at least one part of the prompt to steer.');
  const P = tokens.length;
  const factors = new Float32Array(P).fill(1);
  const owner = new Int32Array(P).fill(-1);
  const resolved = units.map((u, i): ResolvedSteerUnit => {
    const given = [u.text !== undefined, u.span !== undefined, u.positions !== undefined].filter(Boolean).length;
    const name = u.text !== undefined ? `"${u.text}"` : u.span ? `characters ${u.span[0]}-${u.span[1]}` : `unit ${i + 1}`;
    if (given !== 1) bad(`Steering unit ${i + 1} must give exactly one of a text, a character span or token positions.`);
    checkNumber(u.factor, NUMBER_RULES.steerFactor, `The factor for ${name}`);
    let spans: Array<[number, number]> | null = null;
    let positions: number[];
    let coverage: number[] | undefined;
    if (u.positions !== undefined) {
      if (!Array.isArray(u.positions) || u.positions.length === 0) bad(`Steering unit ${i + 1} lists no token positions.`);
      for (const p of u.positions) {
        if (!Number.isInteger(p) || p < 0 || p >= P) bad(`Token position ${p} is outside the prompt's ${P} tokens (0 to ${P - 1}).`);
      }
      positions = [...new Set(u.positions)].sort((a, b) => a - b);
    } else {
      if (u.text !== undefined) {
        if (u.text === '') bad('The text to steer is empty.');
        spans = [];
        for (let at = prompt.indexOf(u.text); at >= 0; at = prompt.indexOf(u.text, at + u.text.length)) spans.push([at, at + u.text.length]);
        if (spans.length === 0) bad(`"${u.text}" does not occur in the prompt; steer a piece of text copied from it (case and spaces matter).`);
      } else {
        const [a, b] = u.span!;
        if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b > prompt.length || b <= a) {
          bad(`Character span ${a}-${b} is empty or outside the prompt (${prompt.length} characters).`);
        }
        spans = [[a, b]];
      }
      const chunkUnits = buildUnits([...tokens], prompt, { kind: 'chunks', chunks: spans }, { tokenOverlap, targetTokenUnits: false });
      const cover = new Map<number, number>();
      chunkUnits.forEach((c) => c.positions.forEach((p, j) => cover.set(p, Math.max(cover.get(p) ?? 0, c.coverage?.[j] ?? 1))));
      positions = [...cover.keys()].sort((a, b) => a - b);
      coverage = positions.map((p) => cover.get(p)!);
    }
    const unitFactors: Array<[number, number]> = positions.map((p, j) => {
      if (owner[p]! >= 0) {
        bad(`Token ${p} ("${tokens[p]!.text}") is steered twice: by ${describe(units[owner[p]!]!, owner[p]!)} and by ${name}; make the parts not share a token.`);
      }
      owner[p] = i;
      const f = 1 - (coverage?.[j] ?? 1) * (1 - u.factor);
      factors[p] = f;
      return [p, Math.fround(f)];
    });
    const label = u.text ?? (spans ? prompt.slice(spans[0]![0], spans[0]![1]) : positions.map((p) => tokens[p]!.text).join(''));
    return { label, factor: u.factor, spans, positions, factors: unitFactors };
  });
  return { factors, units: resolved };
}

function describe(u: SteerUnit, i: number): string {
  return u.text !== undefined ? `"${u.text}"` : u.span ? `characters ${u.span[0]}-${u.span[1]}` : `unit ${i + 1}`;
}

interface RunState {
  ids: number[];
  tokens: SteerToken[];
  stop: SteerRun['stop'] | null;
}

export async function steer(model: AtmanModel, req: SteerRequest): Promise<SteerResult> {
  const t0 = performance.now();
  if (typeof req.prompt !== 'string' || !req.prompt.trim()) throw new AtmanError('EMPTY_PROMPT', 'The prompt is empty; type the text the model should continue.');
  checkNumber(req.maxNewTokens, NUMBER_RULES.maxNewTokens);
  const settings = validateSettings({ mode: req.mode ?? 'multiplicative', layers: req.layers ?? null, tokenOverlap: req.tokenOverlap ?? 'complete' });
  const chat = req.chat ?? true;
  const promptTokens = textPromptTokens(model, req.prompt, chat);
  if (promptTokens.length === 0) throw new AtmanError('EMPTY_PROMPT', 'The prompt has no tokens.');
  const P = promptTokens.length;
  if (P >= model.config.maxPositions) throw new AtmanError('TOO_LONG', `The prompt is ${P} tokens; this model reads at most ${model.config.maxPositions}, leaving no room to generate.`);
  const columns = steeringColumns(promptTokens, req.prompt, req.units, settings.tokenOverlap);
  await model.reconfigure(settings.mode, settings.layers);

  const eos = stopIds(model, chat);
  const promptIds = promptTokens.map((t) => t.id);
  const runs: [RunState, RunState] = [
    { ids: [...promptIds], tokens: [], stop: null },
    { ids: [...promptIds], tokens: [], stop: null },
  ];
  for (let step = 0; step < req.maxNewTokens; step++) {
    if (req.signal?.aborted) throw new AtmanError('CANCELLED', `Steering cancelled after ${step} tokens.`);
    for (const r of runs) if (!r.stop && r.ids.length >= model.config.maxPositions) r.stop = 'max-positions';
    const active = runs.map((r) => !r.stop);
    if (!active.some(Boolean)) break;
    // One after the other: the web backend refuses overlapping runs on one session.
    const dists: Array<Awaited<ReturnType<typeof nextTokenProbabilities>> | null> = [];
    for (const [i, r] of runs.entries()) {
      dists.push(active[i] ? await nextTokenProbabilities(model, r.ids, i === 1 ? withGenerated(columns.factors, r.ids.length) : null) : null);
    }
    const chosen = dists.map((d) => (d ? argmax(d.logits) : -1));
    const made = runs.map((r, i): SteerToken | null => {
      const d = dists[i];
      if (!d) return null;
      const id = chosen[i]!;
      const o = chosen[1 - i]!;
      const token: SteerToken = {
        id,
        text: eos.has(id) ? '' : model.tokenizer.decode([id]),
        probability: d.probs[id]!,
        other: o >= 0 ? { id: o, probability: d.probs[o]! } : null,
      };
      if (eos.has(id)) {
        token.eos = true;
        r.stop = 'eos';
      } else r.ids.push(id);
      r.tokens.push(token);
      return token;
    });
    req.onStep?.({ step, unsteered: made[0]!, steered: made[1]! });
  }
  const finish = (r: RunState): SteerRun => {
    const ids = r.ids.slice(P);
    return { text: ids.length ? model.tokenizer.decode(ids) : '', ids, tokens: r.tokens, stop: r.stop ?? 'max-new-tokens' };
  };
  return {
    schemaVersion: STEER_SCHEMA_VERSION,
    prompt: req.prompt,
    mode: settings.mode,
    layers: settings.layers,
    maxNewTokens: req.maxNewTokens,
    promptTokens: promptTokens.map(({ id, text, start, end, special, role }) => ({ id, text, start, end, ...(special ? { special } : {}), ...(role === 'template' ? { template: true as const } : {}) })),
    units: columns.units,
    steered: finish(runs[1]),
    unsteered: finish(runs[0]),
    model: model.facts,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The prompt's steering factors followed by factor 1 for every generated column. */
function withGenerated(prompt: Float32Array, length: number): Float32Array {
  const phi = new Float32Array(length).fill(1);
  phi.set(prompt);
  return phi;
}

/** Logits and softmax (float64) of the next token after ids, with the given column factors. */
export async function nextTokenProbabilities(
  model: AtmanModel,
  ids: readonly number[],
  factors: Float32Array | null,
): Promise<{ logits: Float32Array; probs: Float64Array }> {
  const { session, inputs, layerModes } = model.current;
  // Only the last row goes through the LM head.
  const feeds = buildFeeds(inputs, model.config, model.backend.Tensor, { ids, batch: 1, factors, layerModes, targetRows: [ids.length - 1], targetIds: [0] });
  const out = await session.run(feeds, ['logits']);
  const t = out.logits!;
  const V = t.dims[t.dims.length - 1]!;
  const logits = (await floatData(t)).slice(0, V);
  t.dispose?.();
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[v]! > max) max = logits[v]!;
  const probs = new Float64Array(V);
  let z = 0;
  for (let v = 0; v < V; v++) z += probs[v] = Math.exp(logits[v]! - max);
  for (let v = 0; v < V; v++) probs[v]! /= z;
  return { logits, probs };
}

// The first maximum, as generateGreedy picks it.
function argmax(x: Float32Array): number {
  let best = 0;
  for (let v = 1; v < x.length; v++) if (x[v]! > x[best]!) best = v;
  return best;
}
