// The forward-only methods AtMan is compared with, over the same units and tokens as explain():
//  - 'attention': raw attention probabilities from the rows that predict the target;
//  - 'rollout': attention rollout (Abnar & Zuidema 2020) through the layers;
//  - 'occlusion-delete': leave-one-out, the unit's tokens removed from the input;
//  - 'occlusion-mask': leave-one-out, the unit's key columns given attention_mask 0.
// Occlusion is scored like AtMan (R = CE with the unit removed - CE unperturbed, paper sign, then
// settings.postprocess); the attention methods score attention mass, which has no sign.
//
// Decisions:
// - perTarget of the attention methods always holds, per target token t, the value read from the
//   row that predicts t (P-1+t). `query` picks the score: 'last-prompt' takes that of t = 0 (the
//   last prompt position), 'target-mean' (default) the mean over all target rows. Post-processing
//   does not apply to them (attention mass is never negative).
// - Raw attention averages the chosen layers and heads (default: all). Rollout multiplies the
//   chosen layers of head-mean attention over the chosen heads (default: all). The chosen layers
//   are the attention options' layers, else the settings' layers (the ones AtMan controls, which
//   the result's settings record), else all.
// - Occlusion removes exactly the unit's positions: conceptual suppression (kappa) and partial
//   token coverage do not apply. Deletion renumbers the positions of the shortened sequence from 0.
//   A target token whose own input position is deleted (an earlier-target-token unit) is predicted
//   from what precedes it, so, as in AtMan, a unit cannot explain itself or earlier target tokens.
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import {
  AtmanError,
  aggregate,
  attentionRollout,
  columnMass,
  crossEntropyAtTargets,
  headMean,
  isAtmanError,
  relevanceMatrix,
} from '../core';
import type { Unit } from '../core/types';
import { TARGET_LOGPROBS_OUTPUT } from '../graph/append-target-scoring';
import { type ExposeAttentionReport, exposeAttentionProbs } from '../graph/expose-attention-probs';
import { DataType, type ValueInfo, decodeModel, encodeModel } from '../graph/onnx-ir';
import { splitStackedCache } from '../graph/split-stacked-cache';
import type { AtmanModel } from './atman-model';
import { chooseAttentionPath } from './attention-path';
import { type ExplainRequest, type Explanation, type ExplanationMethod, type Prepared, SCHEMA_VERSION, batchSizeFor, plainTokens, prepare } from './explain';
import { buildFeeds } from './feeds';
import type { RunReport } from './pass-runner';

export type BaselineMethod = Exclude<ExplanationMethod, 'atman'>;
export const BASELINE_METHODS: readonly BaselineMethod[] = ['attention', 'rollout', 'occlusion-delete', 'occlusion-mask'];

/** Which attention rows score a unit: the last prompt position, or the mean over the rows predicting the target tokens. */
export type AttentionQuery = 'last-prompt' | 'target-mean';

export interface AttentionOptions {
  /** layers to average (raw attention) or multiply through (rollout); null = all */
  layers?: readonly number[] | null;
  /** heads to average; null = all */
  heads?: readonly number[] | null;
  /** default 'target-mean' */
  query?: AttentionQuery;
}

export interface BaselineRequest
  extends Pick<ExplainRequest, 'prompt' | 'target' | 'settings' | 'onProgress' | 'signal' | 'memoryBudgetBytes' | 'batchSize'> {
  method: BaselineMethod;
  /** for 'attention' and 'rollout' */
  attention?: AttentionOptions;
}

export const BASELINE_SIGNS: Record<BaselineMethod, string> = {
  attention:
    'score = attention probability mass from the query rows (the rows predicting the target tokens) to the unit\'s positions, averaged over the chosen layers and heads; never negative, higher means more attended.',
  rollout:
    'score = attention-rollout mass (head-mean attention plus identity, row-normalised, multiplied through the layers) from the query rows to the unit\'s positions; never negative, higher means more attended.',
  'occlusion-delete':
    'score = CE(target | unit deleted from the input) - CE(target | full input), summed over target tokens after post-processing; positive means the unit is evidence for the target (paper sign).',
  'occlusion-mask':
    'score = CE(target | unit masked out by attention_mask 0) - CE(target | unperturbed), summed over target tokens after post-processing; positive means the unit is evidence for the target (paper sign).',
};

export async function explainBaseline(model: AtmanModel, req: BaselineRequest): Promise<Explanation> {
  const t0 = performance.now();
  if (!BASELINE_METHODS.includes(req.method)) throw new AtmanError('BAD_SETTING', `Unknown method "${req.method}".`);
  if (model.vision) {
    throw new AtmanError(
      'MODEL_UNSUPPORTED',
      `The comparison methods run on text-only models for now; ${model.id} reads images. AtMan and its faithfulness curves work on it.`,
    );
  }
  const p = await prepare(model, req, { control: false });
  const result =
    req.method === 'attention' || req.method === 'rollout'
      ? await attentionScores(model, p, req.method, attentionOptionsOf(req, p.settings.layers))
      : await occlusionScores(model, p, req.method, req, t0);
  return {
    schemaVersion: SCHEMA_VERSION,
    method: req.method,
    sign: BASELINE_SIGNS[req.method],
    prompt: req.prompt,
    target: req.target,
    tokens: plainTokens(p.tokens),
    units: p.units.map((u, i) => ({
      label: u.label,
      positions: u.positions,
      score: result.scores[i]!,
      perTarget: Array.from(result.perTarget[i]!),
      // occlusion takes the unit's positions out entirely; the attention methods change nothing
      factors: req.method.startsWith('occlusion') ? u.positions.map((q): [number, number] => [q, 0]) : [],
    })),
    baseline: { crossEntropy: Array.from(result.ce0) },
    settings: p.settings,
    model: model.facts,
    passes: req.method.startsWith('occlusion') ? 1 + p.units.length : 1,
    batchSize: result.report.batchSize,
    run: result.report,
    seconds: (performance.now() - t0) / 1000,
  };
}

interface Scores {
  scores: number[];
  perTarget: Float64Array[];
  ce0: Float64Array;
  report: RunReport;
}

const emptyReport = (batchSize: number, scoreHead: boolean): RunReport => ({
  scoreHead,
  prefixReuse: 'off',
  notes: [],
  batches: 0,
  batchSize,
  rowsComputed: 0,
  rowsFullRecompute: 0,
  passesSkipped: 0,
  ioPeakBytes: 0,
});

const feedBytes = (feeds: Record<string, OrtTensor>): number =>
  Object.values(feeds).reduce((a, f) => a + (f.data as ArrayLike<unknown>).length * (f.type === 'int64' ? 8 : f.type === 'bool' || f.type === 'uint8' ? 1 : 4), 0);

// ---------- attention methods ----------

interface ProbsSession {
  session: InferenceSession;
  inputs: ValueInfo[];
  report: ExposeAttentionReport;
  /** the attention the probabilities come from, in words */
  attention: string;
}

/** A session on the unmodified graph with every layer's attention probabilities as outputs, made on first use. */
const probsSessions = new WeakMap<AtmanModel, Promise<ProbsSession>>();

function probsSession(model: AtmanModel): Promise<ProbsSession> {
  let made = probsSessions.get(model);
  if (made) return made;
  made = (async () => {
    const graph = decodeModel(model.original.bytes);
    // Fused attention never produces its probabilities: read them from its standard-op rewrite.
    splitStackedCache(graph);
    const attention = chooseAttentionPath(graph, 'multiplicative', 'decomposed');
    const report = exposeAttentionProbs(graph, { expectedLayers: model.config.numLayers });

    let session: InferenceSession;
    try {
      session = await model.backend.createSession(encodeModel(graph), model.original.external);
    } catch (e) {
      throw new AtmanError('BACKEND_FAILED', `The ${model.backend.name} backend could not create a session that reads the attention of ${model.id}: ${(e as Error).message}`);
    }
    return { session, inputs: graph.graph.inputs, report, attention: attention.description };
  })();
  probsSessions.set(model, made);
  // A failed build is not kept: the next call tries again.
  made.catch(() => probsSessions.get(model) === made && probsSessions.delete(model));
  return made;
}

/** Releases the extra session the attention methods made for this model, if any (AtmanModel.release does not know of it). */
export async function releaseBaselineSessions(model: AtmanModel): Promise<void> {
  const made = probsSessions.get(model);
  if (!made) return;
  probsSessions.delete(model);
  const s = await made.catch(() => null);
  await s?.session.release();
}

/**
 * The layers the attention methods read: those the request's attention options name, else the
 * settings' layers (what `--layers` and the result's `settings.layers` say), else all. Without the
 * fallback, `--layers 3` averaged every layer while the JSON said [3].
 */
export function attentionOptionsOf(req: Pick<BaselineRequest, 'attention'>, settingsLayers: readonly number[] | null): AttentionOptions {
  const opts = req.attention ?? {};
  return opts.layers === undefined && settingsLayers !== null ? { ...opts, layers: settingsLayers } : opts;
}

function pickIndices(what: 'Layer' | 'Head', chosen: readonly number[] | null | undefined, count: number): number[] {
  if (!chosen) return Array.from({ length: count }, (_, i) => i);
  if (chosen.length === 0) throw new AtmanError('BAD_SETTING', `Choose at least one ${what.toLowerCase()}.`);
  for (const i of chosen) {
    if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new AtmanError('BAD_SETTING', `${what} ${i} does not exist: this model has ${what.toLowerCase()}s 0 to ${count - 1}.`);
  }
  return [...new Set(chosen)].sort((a, b) => a - b);
}

async function attentionScores(model: AtmanModel, p: Prepared, method: 'attention' | 'rollout', opts: AttentionOptions): Promise<Scores> {
  const { ids, targetIds, promptLen: P, units } = p;
  const S = ids.length;
  const T = targetIds.length;
  const query = opts.query ?? 'target-mean';
  if (query !== 'last-prompt' && query !== 'target-mean') throw new AtmanError('BAD_SETTING', `Unknown attention query "${query}": use last-prompt or target-mean.`);
  const { session, inputs, report: exposed, attention } = await probsSession(model);
  const layers = pickIndices('Layer', opts.layers, exposed.layerCount);
  const names = layers.map((l) => exposed.outputs.find((o) => o.layer === l)!.output);

  const feeds = buildFeeds(inputs, model.config, model.backend.Tensor, { ids, batch: 1, factors: null });
  const out = await session.run(feeds, ['logits', ...names]);
  const logits = out.logits!;
  const ce0 = crossEntropyAtTargets((await logits.getData()) as Float32Array, 1, S, logits.dims[2]!, P, targetIds)[0]!;
  let H = 0;
  let heads: number[] = [];
  const perLayer: Float64Array[] = [];
  for (const name of names) {
    const t = out[name]!;
    if (!(t.dims.length === 4 && t.dims[2] === S && t.dims[3] === S)) {
      throw new AtmanError('MODEL_UNSUPPORTED', `The attention probabilities of this graph have shape [${t.dims.join(', ')}], not [batch, heads, ${S}, ${S}].`);
    }
    if (!H) heads = pickIndices('Head', opts.heads, (H = t.dims[1]!));
    perLayer.push(headMean((await t.getData()) as Float32Array, H, S, heads));
  }
  const io = feedBytes(feeds) + Object.values(out).reduce((a, t) => a + t.size * 4, 0);
  Object.values(out).forEach((t) => t.dispose?.());

  // value(u, t): what unit u gets from the row predicting target token t
  let value: (cols: number[], row: number) => number;
  if (method === 'rollout') {
    const R = attentionRollout(perLayer, S);
    value = (cols, row) => columnMass(R, S, row, cols);
  } else {
    value = (cols, row) => perLayer.reduce((a, A) => a + columnMass(A, S, row, cols), 0) / perLayer.length;
  }
  const perTarget = units.map((u) => Float64Array.from({ length: T }, (_, t) => value(u.positions, P - 1 + t)));
  const scores = perTarget.map((row) => (query === 'last-prompt' ? row[0]! : row.reduce((a, x) => a + x, 0) / T));

  const report = emptyReport(1, false);
  report.attention = attention;
  report.batches = 1;
  report.rowsComputed = report.rowsFullRecompute = S;
  report.ioPeakBytes = io;
  const span = (xs: number[], n: number) => (xs.length === n ? 'all' : xs.join(', '));
  report.notes.push(
    `${method === 'rollout' ? 'rollout through' : 'mean over'} layers ${span(layers, exposed.layerCount)}, heads ${span(heads, H)}; ` +
      `score from ${query === 'last-prompt' ? 'the last prompt position' : 'the mean over the rows predicting the target tokens'}`,
  );
  return { scores, perTarget, ce0, report };
}

// ---------- occlusion ----------

interface OcclusionPass {
  /** input ids of this pass */
  ids: number[];
  /** the attention mask of this pass (masking), null = all ones */
  mask: Uint8Array | null;
  /** rows predicting each target token */
  rows: number[];
}

async function occlusionScores(
  model: AtmanModel,
  p: Prepared,
  method: 'occlusion-delete' | 'occlusion-mask',
  req: BaselineRequest,
  t0: number,
): Promise<Scores> {
  const { ids, targetIds, promptLen: P, units, settings } = p;
  const S = ids.length;
  const T = targetIds.length;
  const { inputs } = model.current;
  if (method === 'occlusion-mask') {
    if (!inputs.some((v) => v.name === 'attention_mask')) {
      throw new AtmanError('MODEL_UNSUPPORTED', 'This model graph takes no attention_mask, so occlusion by masking cannot run on it. Use occlusion by deletion.');
    }
    await checkMasking(model);
  }
  const passes: OcclusionPass[] = [plainPass(ids, P, T), ...units.map((u) => (method === 'occlusion-mask' ? maskPass(u, ids, P, T) : deletionPass(u, ids, targetIds, P)))];

  const coupling = model.current.coupling;
  // Coupled rows: a pass's numbers depend on its batch partners, so each runs alone (the score head already picks rows after the LM head).
  const batchSize = coupling.coupled ? 1 : (req.batchSize ?? batchSizeFor(model, S, T, req.memoryBudgetBytes));
  const report = emptyReport(batchSize, true);
  report.attention = model.current.attention.description;
  if (coupling.coupled) {
    report.rowCoupling = { reason: coupling.reason!, handling: 'exact' };
    report.notes.push('rows and batch items are coupled in this model (see rowCoupling): occlusion passes ran one at a time');
  }
  report.rowsFullRecompute = passes.length * S;
  if (settings.kappa !== null) report.notes.push('conceptual suppression does not apply to occlusion: only the unit\'s own positions are removed');
  if (units.some((u) => u.coverage?.some((c) => c < 1))) report.notes.push('partly covered tokens are removed whole');
  if (method === 'occlusion-delete') report.notes.push('positions after a deleted unit move up; position ids count the shortened sequence from 0');

  // Passes of one input length (and, with deletion, the same target rows) run together.
  const groups = new Map<string, number[]>();
  passes.forEach((ps, i) => {
    const key = `${ps.ids.length}:${ps.rows.join(',')}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const ce: Float64Array[] = new Array(passes.length);
  let done = 0;
  for (const members of groups.values()) {
    for (let from = 0; from < members.length; from += batchSize) {
      if (req.signal?.aborted) throw new AtmanError('CANCELLED', `Cancelled after ${done} of ${passes.length} passes.`);
      const batch = members.slice(from, from + batchSize);
      const { rows, io } = await scorePasses(model, batch.map((i) => passes[i]!), targetIds);
      batch.forEach((i, b) => (ce[i] = rows[b]!));
      report.batches++;
      report.rowsComputed += batch.length * passes[batch[0]!]!.ids.length;
      report.ioPeakBytes = Math.max(report.ioPeakBytes, io);
      done += batch.length;
      req.onProgress?.({ stage: 'passes', loaded: done, total: passes.length, elapsedSeconds: (performance.now() - t0) / 1000 });
    }
  }
  const R = relevanceMatrix(ce[0]!, ce.slice(1));
  return { scores: aggregate(R, settings.postprocess), perTarget: R, ce0: ce[0]!, report };
}

const plainPass = (ids: number[], P: number, T: number): OcclusionPass => ({ ids, mask: null, rows: Array.from({ length: T }, (_, t) => P - 1 + t) });

function maskPass(u: Unit, ids: number[], P: number, T: number): OcclusionPass {
  const mask = new Uint8Array(ids.length).fill(1);
  for (const q of u.positions) mask[q] = 0;
  const pass = plainPass(ids, P, T);
  for (const row of pass.rows) {
    // A row that sees no key at all has no defined output.
    if (!mask.subarray(0, row + 1).some((m) => m === 1)) throw nothingLeft(u, 'Masking');
  }
  return { ...pass, mask };
}

/**
 * The sequence without the unit's positions. Target token t sits at P+t in prompt + target; it is
 * predicted by the row of the last kept position before it, whether or not it is kept itself.
 */
function deletionPass(u: Unit, ids: number[], targetIds: number[], P: number): OcclusionPass {
  const full = [...ids.slice(0, P), ...targetIds];
  const gone = new Set(u.positions);
  const keptBefore = (pos: number) => {
    let n = 0;
    for (let i = 0; i < pos; i++) if (!gone.has(i)) n++;
    return n;
  };
  const rows = targetIds.map((_, t) => keptBefore(P + t) - 1);
  if (rows.some((r) => r < 0)) throw nothingLeft(u, 'Deleting');
  return { ids: full.slice(0, full.length - 1).filter((_, i) => !gone.has(i)), mask: null, rows };
}

const nothingLeft = (u: Unit, how: string) =>
  new AtmanError('BAD_SETTING', `${how} "${u.label.trim() || u.label}" leaves the model nothing to read before a target token; choose a finer granularity so that some prompt token stays.`);

/** Runs passes of one input length through the score head; returns CE per target token per pass. */
async function scorePasses(model: AtmanModel, batch: OcclusionPass[], targetIds: number[]): Promise<{ rows: Float64Array[]; io: number }> {
  const { session, inputs } = model.current;
  const first = batch[0]!;
  const n = first.ids.length;
  const masks = batch.some((b) => b.mask) ? new Uint8Array(batch.length * n).fill(1) : null;
  if (masks) batch.forEach((b, i) => b.mask && masks.set(b.mask, i * n));
  const feeds = buildFeeds(inputs, model.config, model.backend.Tensor, {
    ids: first.ids,
    batch: batch.length,
    factors: null,
    attentionMask: masks,
    targetRows: first.rows,
    targetIds,
  });
  // Deletion passes of one length carry different ids.
  const idsInput = inputs.find((v) => v.name === 'input_ids');
  if (idsInput && batch.some((b) => b.ids !== first.ids)) {
    const flat = batch.flatMap((b) => b.ids);
    feeds.input_ids =
      idsInput.elemType === DataType.INT32
        ? new model.backend.Tensor('int32', Int32Array.from(flat), [batch.length, n])
        : new model.backend.Tensor('int64', BigInt64Array.from(flat, BigInt), [batch.length, n]);
  }
  const out = await session.run(feeds, [TARGET_LOGPROBS_OUTPUT]);
  const t = out[TARGET_LOGPROBS_OUTPUT]!;
  const data = (await t.getData()) as Float32Array;
  const T = targetIds.length;
  const rows = batch.map((_, b) => Float64Array.from({ length: T }, (_, k) => -data[b * T + k]!));
  const io = feedBytes(feeds) + t.size * 4;
  t.dispose?.();
  return { rows, io };
}

/**
 * Whether a 0 in attention_mask really hides that key column: with column 1 masked, the rows after
 * it must not depend on the token there. Graphs that read only sequence lengths from the mask
 * (GroupQueryAttention) fail this. Checked once per model.
 */
const maskingChecked = new WeakMap<AtmanModel, Promise<void>>();

function checkMasking(model: AtmanModel): Promise<void> {
  let checked = maskingChecked.get(model);
  if (checked) return checked;
  checked = (async () => {
    const n = Math.min(8, model.config.maxPositions);
    if (n < 3) return;
    const V = model.config.vocabSize;
    const a = Array.from({ length: n }, (_, i) => (i * 7919 + 3) % V);
    const b = a.map((id, i) => (i === 1 ? (id + 1) % V : id));
    const mask = new Uint8Array(n).fill(1);
    mask[1] = 0;
    const rows = Array.from({ length: n - 2 }, (_, i) => i + 2);
    const targets = rows.map((r) => a[(r + 1) % n]!);
    const pass = (ids: number[]): OcclusionPass => ({ ids, mask, rows });
    // Coupled rows: run each alone, as the occlusion passes run, so a masked token that still moves the others is caught.
    const coupled = model.current.coupling.coupled;
    const got = coupled
      ? [(await scorePasses(model, [pass(a)], targets)).rows[0]!, (await scorePasses(model, [pass(b)], targets)).rows[0]!]
      : (await scorePasses(model, [pass(a), pass(b)], targets)).rows;
    const ok = got[0]!.every((x, i) => Number.isFinite(x) && Math.abs(x - got[1]![i]!) <= 1e-4 * (1 + Math.abs(x)));
    if (!ok) {
      throw new AtmanError(
        'MODEL_UNSUPPORTED',
        `This model's graph does not hide a token whose attention_mask is 0${model.current.report.sites.some((s) => s.kind === 'GroupQueryAttention') ? ' (its GroupQueryAttention reads only sequence lengths from the mask)' : coupled ? ' (its activations are quantized with one scale over every token, masked ones included)' : ''}, so occlusion by masking cannot run on it. Use occlusion by deletion.`,
      );
    }
  })();
  maskingChecked.set(model, checked);
  checked.catch((e) => !isAtmanError(e, 'MODEL_UNSUPPORTED') && maskingChecked.get(model) === checked && maskingChecked.delete(model));
  return checked;
}
