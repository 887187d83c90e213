// Raw attention and attention rollout: one forward pass of a copy of the graph that also outputs
// every layer's attention probabilities (graph/expose-attention-probs.ts), read at the rows that
// predict the target. Its session is cached per model; the worker releases it with the model.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError, attentionRollout, columnMass, crossEntropyAtTargets, headMean } from '../../core';
import { type ExposeAttentionReport, exposeAttentionProbs } from '../../graph/expose-attention-probs';
import { type ValueInfo, decodeModel, encodeModel } from '../../graph/ir/onnx-ir';
import { splitStackedCache } from '../../graph/split-stacked-cache';
import type { AtmanModel } from '../atman/atman-model';
import { attentionReport, chooseAttentionPath } from '../atman/attention-path';
import { type Prepared } from '../atman/prepare';
import { buildFeeds, feedBytes } from '../atman/feeds';

import { type AttentionOptions, type Scores, emptyReport } from './method-scores';

interface ProbsSession {
  session: InferenceSession;
  inputs: ValueInfo[];
  report: ExposeAttentionReport;
  /** the run report's words for the attention the probabilities come from (none for plain exports) */
  attention: { attention?: string };
}

/** A session on the unmodified graph with every layer's attention probabilities as outputs, made on first use. */
const probsSessions = new WeakMap<AtmanModel, Promise<ProbsSession>>();

function probsSession(model: AtmanModel): Promise<ProbsSession> {
  let made = probsSessions.get(model);
  if (made) return made;
  made = (async () => {
    const original = await model.original();
    const graph = decodeModel(original.bytes);
    // Fused attention never produces its probabilities: read them from its standard-op rewrite.
    splitStackedCache(graph);
    const attention = chooseAttentionPath(graph, 'multiplicative', 'decomposed');
    const report = exposeAttentionProbs(graph, { expectedLayers: model.config.numLayers });

    let session: InferenceSession;
    try {
      session = await model.backend.createSession(encodeModel(graph), original.external);
    } catch (e) {
      throw new AtmanError('BACKEND_FAILED', `The ${model.backend.name} backend could not create a session that reads the attention of ${model.id}: ${(e as Error).message}`);
    }
    return { session, inputs: graph.graph.inputs, report, attention: attentionReport(attention) };
  })();
  probsSessions.set(model, made);
  // A failed build is not kept: the next call tries again.
  made.catch(() => probsSessions.get(model) === made && probsSessions.delete(model));
  return made;
}

/** Releases the extra session the attention methods made for this model, if any (AtmanModel.release does not know of it). */
export async function releaseComparisonSessions(model: AtmanModel): Promise<void> {
  const made = probsSessions.get(model);
  if (!made) return;
  probsSessions.delete(model);
  const s = await made.catch(() => null);
  await s?.session.release();
}

function pickIndices(what: 'Layer' | 'Head', chosen: readonly number[] | null | undefined, count: number): number[] {
  if (!chosen) return Array.from({ length: count }, (_, i) => i);
  if (chosen.length === 0) throw new AtmanError('BAD_SETTING', `Choose at least one ${what.toLowerCase()}.`);
  for (const i of chosen) {
    if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new AtmanError('BAD_SETTING', `${what} ${i} does not exist: this model has ${what.toLowerCase()}s 0 to ${count - 1}.`);
  }
  return [...new Set(chosen)].sort((a, b) => a - b);
}

export async function attentionScores(model: AtmanModel, p: Prepared, method: 'attention' | 'rollout', opts: AttentionOptions): Promise<Scores> {
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
  Object.assign(report, attention);
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
