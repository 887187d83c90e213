// Leave-one-out occlusion: each unit's tokens deleted from the input, or its key columns given
// attention_mask 0, scored like AtMan (CE with the unit removed minus CE unperturbed).
import { AtmanError, aggregate, isAtmanError, relevanceMatrix } from '../../core';
import type { Unit } from '../../core/types';
import { TARGET_LOGPROBS_OUTPUT } from '../../graph/append-target-scoring';
import { DataType } from '../../graph/ir/onnx-ir';
import { type AtmanModel, checkTokenIds } from '../atman/atman-model';
import { attentionReport } from '../atman/attention-path';
import { batchSizeFor } from '../atman/explain';
import { type Prepared } from '../atman/prepare';
import { buildFeeds, feedBytes } from '../atman/feeds';
import { BatchBackoff } from '../atman/batch-backoff';

import { type ComparisonRequest, type Scores, emptyReport } from './method-scores';

interface OcclusionPass {
  /** input ids of this pass */
  ids: number[];
  /** the attention mask of this pass (masking), null = all ones */
  mask: Uint8Array | null;
  /** rows predicting each target token */
  rows: number[];
}

export async function occlusionScores(
  model: AtmanModel,
  p: Prepared,
  method: 'occlusion-delete' | 'occlusion-mask',
  req: ComparisonRequest,
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
  const batchSize = coupling.coupled ? 1 : (req.batchSize ?? batchSizeFor(model, S, T, req.memoryBudgetBytes, false));
  const report = emptyReport(batchSize, true);
  Object.assign(report, attentionReport(model.current.attention));
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
  // Out of memory: the same halving as AtMan's passes (batch-backoff.ts); report.batchSize follows it.
  const backoff = new BatchBackoff(batchSize, (words) => {
    report.batchSize = backoff.size;
    if (!report.notes.includes(words)) report.notes.push(words);
  });
  for (const members of groups.values()) {
    await backoff.each(members, async (batch) => {
      if (req.signal?.aborted) throw new AtmanError('CANCELLED', `Cancelled after ${done} of ${passes.length} passes.`);
      const { rows, io } = await scorePasses(model, batch.map((i) => passes[i]!), targetIds);
      batch.forEach((i, b) => (ce[i] = rows[b]!));
      report.batches++;
      report.rowsComputed += batch.length * passes[batch[0]!]!.ids.length;
      report.ioPeakBytes = Math.max(report.ioPeakBytes, io);
      done += batch.length;
      req.onProgress?.({ stage: 'passes', loaded: done, total: passes.length, elapsedSeconds: (performance.now() - t0) / 1000 });
    });
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
    const a = checkTokenIds(n, V);
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
