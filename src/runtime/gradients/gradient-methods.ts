// The gradient methods AtMan is compared with, as docs/autodiff.md defines them (sign: positive =
// evidence for the target):
//  - 'input-x-gradient': s_i = sum_d x_id · dL/dx_id, L = sum_t log p(target_t), x = token embeddings;
//  - 'integrated-gradients': baseline 0, Gauss–Legendre nodes a_k and weights w_k on [0, 1]:
//    s_i = sum_d x_id · sum_k w_k · dL/dx_id at a_k·x; the run report gives the completeness gap;
//  - 'chefer': per target token t, y = the raw logit of target_t at its row; R = I, for each layer
//    R <- R + mean_h max(G ⊙ A, 0) · R with G = dy/dA; s_j += (R - I)[row_t, j].
// Images: x takes the image tokens' input vectors (in-sequence models) or the encoder output rows
// (captioners, columns S..S+E-1), and captioners' Chefer joins the cross-attention rule
// (chefer-encoder-decoder.ts); image units sum the scores of their columns like any unit.
// Every method keeps one row per target token (the gradient of that token's log-probability, or of
// its logit), so unit scores are sums of token scores over the unit's positions and
// `--target-granularity token` gets per-target rows as AtMan does.
import type { Tensor as OrtTensor } from 'onnxruntime-common';
import { AtmanError, DEFAULT_IG_STEPS, DEFAULT_MEMORY_BUDGET, NUMBER_RULES, aggregate, checkNumber, cheferEncoderDecoderRow, cheferRow, chooseGradientBatchSize, gaussLegendre01, inputTimesGradient } from '../../core';
import { TARGET_LOGPROBS_OUTPUT } from '../../graph/append-target-scoring';
import { GRAD_SEED_INPUT } from '../../graph/autodiff/append-gradients';
import { DataType } from '../../graph/ir/onnx-ir';
import type { AtmanModel } from '../atman/atman-model';
import { buildFeeds, feedBytes } from '../atman/feeds';
import type { Prepared } from '../atman/prepare';
import type { RunReport } from '../atman/pass-runner';
import type { GradientMethod } from '../schema';
import { type ComparisonRequest, type Scores, emptyReport } from '../compare/method-scores';
import { inputBlocks } from './gradient-inputs';
import { type GradientSession, gradientSession } from './gradient-sessions';

export { DEFAULT_IG_STEPS };

/** One batch item: the embeddings scaled by alpha, and the target whose score is differentiated. */
interface Item {
  alpha: number;
  target: number;
  /** quadrature weight (integrated gradients) or 1; 0 for the completeness endpoints */
  weight: number;
}

export interface GradientScores extends Scores {
  /** per target token, the score of every column: [T][S + E] (E encoder rows of a captioner, else 0) */
  tokenScores: Float64Array[];
}

export async function gradientScores(model: AtmanModel, p: Prepared, method: GradientMethod, req: ComparisonRequest, t0: number): Promise<GradientScores> {
  const kind = method === 'chefer' ? 'attention' : 'embeddings';
  const g = await gradientSession(model, kind);
  if (g.seedType !== DataType.FLOAT) {
    throw new AtmanError('MODEL_UNSUPPORTED', `The gradient methods run on float32 graphs; the gradient graph of this variant of ${model.id} computes in another type. Pick its fp32 or q4 variant.`);
  }
  const S = p.ids.length;
  const T = p.targetIds.length;
  // a captioner's encoder rows are columns too (after the S sequence columns), as in AtMan
  const columns = S + p.encoderLength;
  const c = model.config;
  // The encoder rows count as sequence rows: more than the cross-attention's S x E needs, never less.
  const batchSize = req.batchSize ?? chooseGradientBatchSize({
    vocab: c.vocabSize, seqLen: columns, numHeads: c.numHeads, hiddenSize: c.hiddenSize, logitRows: T, layers: c.numLayers, budgetBytes: req.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET,
  });
  const report = emptyReport(batchSize, true);
  Object.assign(report, g.attention);
  report.notes.push(...g.notes);
  report.notes.push(`backward graph: ${g.report.backwardNodes} nodes over ${Object.values(g.report.differentiated).reduce((a, b) => a + b, 0)} differentiated forward nodes`);
  const tokenScores = Array.from({ length: T }, () => new Float64Array(columns));
  let ce0: Float64Array;
  if (method === 'chefer') ce0 = await runChefer(model, g, p, batchSize, req, report, tokenScores, t0);
  else {
    const steps = method === 'input-x-gradient' ? null : stepsOf(req.steps);
    ce0 = await runEmbeddingGradients(model, g, p, steps, batchSize, req, report, tokenScores, t0);
  }
  const perTarget = p.units.map((u) => Float64Array.from({ length: T }, (_, t) => u.positions.reduce((a, i) => a + (i < columns ? tokenScores[t]![i]! : 0), 0)));
  return { scores: aggregate(perTarget, p.settings.postprocess), perTarget, ce0, report, tokenScores };
}

// One range for the command line, the page and the engine: the number rule's.
const stepsOf = (steps: number | undefined): number => checkNumber(steps ?? DEFAULT_IG_STEPS, NUMBER_RULES.steps);

async function runEmbeddingGradients(
  model: AtmanModel, g: GradientSession, p: Prepared, steps: number | null, batchSize: number, req: ComparisonRequest, report: RunReport, tokenScores: Float64Array[], t0: number,
): Promise<Float64Array> {
  const T = p.targetIds.length;
  const blocks = inputBlocks(model, g, p);
  const items: Item[] = [];
  // Integrated gradients also runs the two ends of the path (weight 0) for the completeness check.
  const quad = steps ? gaussLegendre01(steps) : { nodes: [1], weights: [1] };
  for (let k = 0; k < quad.nodes.length; k++) for (let t = 0; t < T; t++) items.push({ alpha: quad.nodes[k]!, target: t, weight: quad.weights[k]! });
  if (steps) items.push({ alpha: 1, target: 0, weight: 0 }, { alpha: 0, target: 0, weight: 0 });
  const ends = new Map<number, Float64Array>();
  let ce0: Float64Array | null = null;
  await inBatches(items, batchSize, req, report, t0, async (batch) => {
    const n = batch.length;
    const feeds = buildFeeds(g.inputs, model.config, model.backend.Tensor, {
      ids: p.ids, batch: n, factors: null, targetRows: p.targetIds.map((_, t) => p.promptLen - 1 + t), targetIds: p.targetIds, ...(p.context ? { context: p.context } : {}),
    });
    // Every block of x is scaled by the item's alpha: the path runs from x = 0 for all of them at once.
    for (const blk of blocks) {
      const size = blk.rows * blk.dim;
      const scaled = new Float32Array(n * size);
      batch.forEach((it, b) => {
        for (let k = 0; k < size; k++) scaled[b * size + k] = it.alpha * blk.data[k]!;
      });
      feeds[blk.input] = new model.backend.Tensor('float32', scaled, [n, blk.rows, blk.dim]);
    }
    const seed = new Float32Array(n * T);
    batch.forEach((it, b) => it.weight !== 0 && (seed[b * T + it.target] = 1));
    feeds[GRAD_SEED_INPUT] = new model.backend.Tensor('float32', seed, [n, T]);
    const out = await g.session.run(feeds, [TARGET_LOGPROBS_OUTPUT, ...blocks.map((blk) => blk.gradient)]);
    const lp = (await out[TARGET_LOGPROBS_OUTPUT]!.getData()) as Float32Array;
    let outBytes = lp.byteLength;
    for (const blk of blocks) {
      const grad = (await out[blk.gradient]!.getData()) as Float32Array;
      outBytes += grad.byteLength;
      const size = blk.rows * blk.dim;
      batch.forEach((it, b) => {
        if (it.weight === 0) return;
        const row = tokenScores[it.target]!.subarray(blk.column, blk.column + blk.rows) as Float64Array<ArrayBuffer>;
        inputTimesGradient(blk.data, grad.subarray(b * size, (b + 1) * size), blk.rows, blk.dim, row, it.weight);
      });
    }
    batch.forEach((it, b) => {
      const rowLp = Float64Array.from(lp.subarray(b * T, (b + 1) * T));
      if (it.alpha === 1 && (it.weight === 0 || !steps)) ce0 ??= rowLp.map((v) => -v);
      if (it.weight === 0) ends.set(it.alpha, rowLp);
    });
    report.ioPeakBytes = Math.max(report.ioPeakBytes, feedBytes(feeds) + outBytes);
    dispose(out);
  });
  if (steps) {
    const [full, zero] = [ends.get(1)!, ends.get(0)!];
    let attributed = 0;
    let difference = 0;
    for (let t = 0; t < T; t++) {
      attributed += tokenScores[t]!.reduce((a, v) => a + v, 0);
      difference += full[t]! - zero[t]!;
    }
    report.steps = steps;
    report.completeness = { attributed, difference, gap: attributed - difference, relativeGap: Math.abs(attributed - difference) / Math.max(Math.abs(difference), 1e-12) };
    report.notes.push(`integrated gradients over ${steps} Gauss–Legendre nodes; completeness: attributions sum to ${attributed.toPrecision(6)} against L(x) - L(0) = ${difference.toPrecision(6)}`);
  }
  if (blocks.length > 1) report.notes.push('x = the token embeddings of the text and the encoder output rows of the image, scaled together');
  return ce0!;
}

async function runChefer(
  model: AtmanModel, g: GradientSession, p: Prepared, batchSize: number, req: ComparisonRequest, report: RunReport, tokenScores: Float64Array[], t0: number,
): Promise<Float64Array> {
  const S = p.ids.length;
  const E = p.encoderLength;
  const T = p.targetIds.length;
  const V = model.config.vocabSize;
  const P = p.promptLen;
  const ce0 = new Float64Array(T);
  const items = p.targetIds.map((_, t) => t);
  const cross = g.roles.includes('cross');
  await inBatches(items, batchSize, req, report, t0, async (batch) => {
    const n = batch.length;
    const feeds = buildFeeds(g.inputs, model.config, model.backend.Tensor, {
      ids: p.ids, batch: n, factors: null, targetRows: p.targetIds.map((_, t) => P - 1 + t), targetIds: p.targetIds, ...(p.context ? { context: p.context } : {}),
    });
    const seed = new Float32Array(n * T * V);
    batch.forEach((t, b) => (seed[(b * T + t) * V + p.targetIds[t]!] = 1));
    feeds[GRAD_SEED_INPUT] = new model.backend.Tensor('float32', seed, [n, T, V]);
    const out = await g.session.run(feeds, [TARGET_LOGPROBS_OUTPUT, ...g.probs, ...g.gradients]);
    const lp = (await out[TARGET_LOGPROBS_OUTPUT]!.getData()) as Float32Array;
    const A: Float32Array[] = [];
    const G: Float32Array[] = [];
    const per: number[] = [];
    let H = 0;
    for (let l = 0; l < g.probs.length; l++) {
      const a = out[g.probs[l]!]!;
      const keys = g.roles[l] === 'cross' ? E : S;
      if (!(a.dims.length === 4 && a.dims[2] === S && a.dims[3] === keys)) {
        throw new AtmanError('MODEL_UNSUPPORTED', `The ${g.roles[l]}-attention probabilities of this graph have shape [${a.dims.join(', ')}], not [batch, heads, ${S}, ${keys}].`);
      }
      H = a.dims[1]!;
      per.push(H * S * keys);
      A.push((await a.getData()) as Float32Array);
      G.push((await out[g.gradients[l]!]!.getData()) as Float32Array);
    }
    batch.forEach((t, b) => {
      const pick = (x: Float32Array, l: number) => x.subarray(b * per[l]!, (b + 1) * per[l]!);
      const row = cross
        ? cheferEncoderDecoderRow(A.map((a, l) => ({ role: g.roles[l]!, A: pick(a, l), G: pick(G[l]!, l) })), S, E, P - 1 + t)
        : cheferRow(A.map(pick), G.map(pick), H, S, P - 1 + t);
      tokenScores[t]!.set(row);
      if (b === 0) for (let k = 0; k < T; k++) ce0[k] = -lp[k]!;
    });
    report.ioPeakBytes = Math.max(report.ioPeakBytes, feedBytes(feeds) + 2 * A.reduce((s, a) => s + a.byteLength, 0));
    dispose(out);
  });
  report.notes.push(
    cross
      ? "Chefer's encoder-decoder rules: y = the raw logit of each target token; the decoder's self-attention rule joined to the cross-attention rule for the encoder output rows, heads averaged"
      : "Chefer's decoder rule: y = the raw logit of each target token; relevance through all layers, heads averaged",
  );
  return ce0;
}

async function inBatches<T>(items: T[], batchSize: number, req: ComparisonRequest, report: RunReport, t0: number, run: (batch: T[]) => Promise<void>): Promise<void> {
  for (let from = 0; from < items.length; from += batchSize) {
    if (req.signal?.aborted) throw new AtmanError('CANCELLED', `Cancelled after ${from} of ${items.length} gradient passes.`);
    const batch = items.slice(from, from + batchSize);
    await run(batch);
    report.batches++;
    report.rowsComputed += batch.length;
    report.rowsFullRecompute += batch.length;
    req.onProgress?.({ stage: 'passes', loaded: Math.min(items.length, from + batchSize), total: items.length, elapsedSeconds: (performance.now() - t0) / 1000 });
  }
}

const dispose = (out: Record<string, OrtTensor>): void => Object.values(out).forEach((t) => t.dispose?.());
