// Runs the unperturbed pass and one pass per unit, in batches, and keeps only
// the target tokens' cross-entropies. Two savings, both exact:
//  - prefix reuse: a unit whose first changed column is j cannot change any
//    row before j (causal attention), so its pass starts at row j and reads
//    the keys and values of rows < j from the unperturbed pass's cache;
//  - the score head: only the rows that predict target tokens go through the
//    LM head, and only their target log-probabilities are read back.
import type { Tensor as OrtTensor } from 'onnxruntime-common';
import { AtmanError, isAtmanError } from '../../core/errors';
import { factorsForBatch, groupByStart } from '../../core/plan';
import { crossEntropyAtTargets } from '../../core/scores';
import { TARGET_LOGPROBS_OUTPUT } from '../../graph/append-target-scoring';
import { type AtmanModel, type ControlState, type LoadTimes, peakRss } from './atman-model';
import { attentionReport } from './attention-path';
import { type CoupledNumerics, EXACT_NOTE, type RowCouplingReport, deviationSample, dequantizedNote, measureDeviation } from './coupled-numerics';
import { type DecoderContext, type PastTensor, buildFeeds, feedBytes } from './feeds';
import { floatData } from '../backends/tensor-data';
import type { MemoryReport } from './memory-plan';
import { BatchBackoff } from './batch-backoff';

export interface PassJob {
  /** input ids of the whole sequence: prompt + target[:-1] */
  ids: number[];
  targetIds: number[];
  promptLen: number;
  unitCount: number;
  /**
   * Column factors of a unit's pass: the S sequence columns, then (encoder-decoder models) the
   * encoderLength encoder columns that cross-attention reads.
   */
  factorsOf: (unit: number) => Float32Array;
  context?: DecoderContext;
  encoderLength?: number;
}

export interface RunOptions {
  batchSize: number;
  scoreHead: boolean;
  prefixReuse: boolean;
  signal?: AbortSignal;
  onBatch?: (passesDone: number, total: number) => void;
  /**
   * What one more batch costs, in sequence rows of work, when grouping units by
   * their start (prefix reuse). Default: a quarter of the sequence.
   */
  overheadRows?: number;
  /** how to run a model whose rows or batch items are coupled (default 'exact'); ignored for other models */
  coupledNumerics?: CoupledNumerics;
  /**
   * The unperturbed pass of an earlier run over the same sequence (a drill-down's first level):
   * taken instead of running it again. Its numbers do not depend on the units, so the scores are
   * those of a run that computes it itself. Not used on models whose rows are coupled.
   */
  baseline?: Baseline;
}

/** The unperturbed pass: its cross-entropies, and its keys and values where prefix reuse read them back. */
export interface Baseline {
  ce0: Float64Array;
  past: Map<string, PastTensor> | null;
}

export interface RunReport {
  /** the attention the passes computed, in words: as exported, fused kernels, or fused ops rewritten as standard ops */
  attention?: string;
  scoreHead: boolean;
  /** 'used', 'off', or why it could not be used */
  prefixReuse: string;
  /** fallbacks and batch-size changes, in words */
  notes: string[];
  batches: number;
  /** the batch size the run ended with (halved after out-of-memory errors) */
  batchSize: number;
  /** sequence rows computed over all passes, and what full recomputation computes */
  rowsComputed: number;
  rowsFullRecompute: number;
  /** passes needing no run at all: the unit changes no column (its score is 0) */
  passesSkipped: number;
  /** largest bytes of inputs plus read-back outputs of one batch */
  ioPeakBytes: number;
  /** present when the model's rows or batch items are coupled: why, and how the passes ran because of it */
  rowCoupling?: RowCouplingReport;
  /** the memory budget, the batch size it chose and the estimate at that size (AtMan runs) */
  memory?: MemoryReport;
  /** integrated gradients: the Gauss–Legendre nodes the path was integrated over */
  steps?: number;
  /** integrated gradients: the attributions' sum against L(x) - L(0), summed over target tokens */
  completeness?: { attributed: number; difference: number; gap: number; relativeGap: number };
  /** the model's load: seconds per stage (download, rewrite, session, self-check), and peak memory where the runtime says */
  load?: LoadTimes;
  /** the process's peak resident memory at the end of the run, where the runtime says (Node) */
  peakRssBytes?: number;
}

export interface PassResult {
  ce: Float64Array[];
  report: RunReport;
  /** the unperturbed pass, for a later run over the same sequence (see RunOptions.baseline) */
  baseline?: Baseline;
  /** the given baseline was taken: the unperturbed pass did not run again */
  baselineReused?: true;
}

/**
 * Runs the passes with the savings asked for where they are exact. On a model whose rows or batch
 * items are coupled they are not: by default its passes run one at a time with full recomputation
 * and full logits; with coupledNumerics 'dequantized' the dequantized variant runs batched and its
 * distance from the exact computation is measured on a sample of passes.
 */
export async function runPasses(model: AtmanModel, job: PassJob, opts: RunOptions): Promise<PassResult> {
  const coupling = model.current.coupling;
  if (!coupling.coupled) return runPassesOn(model, model.current, job, opts);
  // The exact way and the measured deviation both rerun the unperturbed pass themselves.
  opts = { ...opts, baseline: undefined };
  const reason = coupling.reason!;
  let fallback: string | null = null;
  if (opts.coupledNumerics === 'dequantized') {
    const variant = await model.dequantizedControl();
    if (!variant.coupling.coupled) {
      const out = await runPassesOn(model, variant, job, opts);
      const sample = deviationSample(out.ce, job.unitCount);
      const exact = await runExact(model, { ...job, unitCount: sample.length, factorsOf: (i) => job.factorsOf(sample[i]!) }, { ...opts, onBatch: () => {} });
      const deviation = measureDeviation(out.ce, exact.ce, sample);
      out.report.rowCoupling = { reason, handling: 'dequantized', deviation };
      out.report.notes.push(dequantizedNote(deviation));
      return out;
    }
    const left = [...new Set(variant.coupling.ops.map((o) => o.opType))].join(', ');
    fallback = `the dequantized variant still holds ops that couple rows (${left || 'found by the load-time check'}), so the exact computation ran instead`;
  }
  const out = await runExact(model, job, opts);
  out.report.rowCoupling = { reason, handling: 'exact' };
  out.report.notes.push(EXACT_NOTE, ...(fallback ? [fallback] : []));
  if (opts.prefixReuse) out.report.prefixReuse = 'not used: rows are coupled in this model (see rowCoupling)';
  return out;
}

/** One pass at a time, every row recomputed, the whole logits read back: what the explanation means. */
const runExact = (model: AtmanModel, job: PassJob, opts: RunOptions): Promise<PassResult> =>
  runPassesOn(model, model.current, job, { ...opts, batchSize: 1, scoreHead: false, prefixReuse: false });

/** The passes on one controlled session, with the savings as asked. */
export async function runPassesOn(model: AtmanModel, control: ControlState, job: PassJob, opts: RunOptions): Promise<PassResult> {
  const { ids, targetIds, promptLen: P, unitCount } = job;
  const S = ids.length;
  const T = targetIds.length;
  const E = job.encoderLength ?? 0;
  const total = 1 + unitCount;
  const { session, inputs, cache } = control;
  const report: RunReport = {
    ...attentionReport(model.current.attention),
    scoreHead: opts.scoreHead,
    prefixReuse: !opts.prefixReuse ? 'off' : cache ? 'used' : 'unavailable: the graph takes no key/value cache (past_key_values)',
    notes: [],
    batches: 0,
    batchSize: opts.batchSize,
    rowsComputed: 0,
    rowsFullRecompute: total * S,
    passesSkipped: 0,
    ioPeakBytes: 0,
    load: { ...model.loadTimes },
  };
  const ce: Float64Array[] = new Array(total);
  const given = opts.baseline;
  const finished = (baseline: Baseline): PassResult => ({ ce, report, baseline, ...(given ? { baselineReused: true as const } : {}) });
  let done = 0;
  const progress = (n: number) => {
    done += n;
    opts.onBatch?.(done, total);
  };

  /** Runs passes over rows start..S-1; returns full-length CE rows (rows before start copy CE_0). */
  const runBatch = async (passes: number[], start: number, past: Map<string, PastTensor> | null, fetchPresents = false): Promise<Map<string, OrtTensor> | null> => {
    if (opts.signal?.aborted) throw new AtmanError('CANCELLED', `Cancelled after ${done} of ${total} passes.`);
    const scored = targetIds.map((_, t) => t).filter((t) => P - 1 + t >= start);
    const rowOf = (t: number) => P - 1 + t - start;
    const suffix = ids.slice(start);
    const all = factorsForBatch(passes, job.factorsOf, S + E);
    const { self: factors, cross: crossFactors } = splitColumns(all, passes.length, S, E);
    const feeds = buildFeeds(inputs, model.config, model.backend.Tensor, {
      ids: suffix,
      batch: passes.length,
      factors,
      crossFactors,
      layerModes: control.layerModes,
      ...(job.context ? { context: job.context } : {}),
      pastLength: start,
      ...(past ? { past } : {}),
      // Without the score head the whole logits matrix comes back, as in a plain forward pass.
      targetRows: opts.scoreHead ? scored.map(rowOf) : suffix.map((_, i) => i),
      targetIds: opts.scoreHead ? scored.map((t) => targetIds[t]!) : suffix.map(() => 0),
    });
    const fetches = [opts.scoreHead ? TARGET_LOGPROBS_OUTPUT : 'logits', ...(fetchPresents && cache ? cache.values() : [])];
    const out = await session.run(feeds, fetches);
    const main = out[fetches[0]!]!;
    const data = await floatData(main);
    let io = main.size * 4;
    io += feedBytes(feeds);
    const rows: Float64Array[] = opts.scoreHead
      ? passes.map((_, b) => Float64Array.from(scored, (t, k) => -data[b * scored.length + k]!))
      : crossEntropyAtTargets(data, passes.length, suffix.length, main.dims[2]!, P - start + scored[0]!, scored.map((t) => targetIds[t]!));
    passes.forEach((p, b) => {
      const full = start === 0 ? new Float64Array(T) : Float64Array.from(ce[0]!);
      scored.forEach((t, k) => (full[t] = rows[b]![k]!));
      ce[p] = full;
    });
    main.dispose?.();
    report.batches++;
    report.rowsComputed += passes.length * suffix.length;
    report.ioPeakBytes = Math.max(report.ioPeakBytes, io);
    progress(passes.length);
    if (!fetchPresents) return null;
    return new Map(Object.entries(out).filter(([k]) => k !== fetches[0]));
  };

  const note = (s: string) => {
    if (!report.notes.includes(s)) report.notes.push(s);
  };
  // The batch size may shrink on the way (out of memory); report.batchSize follows it.
  const backoff = new BatchBackoff(opts.batchSize, (s) => {
    report.batchSize = backoff.size;
    note(s);
  });

  /** One group of units sharing a start row, with the fallbacks that keep a run alive. */
  const runGroup = async (passes: number[], start: number, past: Map<string, PastTensor> | null): Promise<void> => {
    try {
      await runBatch(passes, start, past);
      return;
    } catch (e) {
      if (isAtmanError(e)) throw e;
      if (backoff.shrink(passes.length, e)) {
        // retried below at the smaller size
      } else if (passes.length > 1 && start > 0) {
        // e.g. GroupQueryAttention on CPU takes a past with several new rows only at batch 1
        backoff.size = report.batchSize = 1;
        note(`the backend refused a batched cached prefix (${brief(e)}); ran those passes one at a time`);
      } else if (start > 0) {
        note(`the backend refused a cached prefix (${brief(e)}); recomputed the whole sequence for that pass`);
        await runBatch(passes, 0, null);
        return;
      } else throw e;
    }
    await backoff.each(passes, (batch) => runGroup(batch, start, past));
  };
  /** Full recomputation in batches of the current size. */
  const runFromStart = (passes: number[]): Promise<void> => backoff.each(passes, (batch) => runGroup(batch, 0, null));

  if (given) {
    ce[0] = given.ce0;
    report.rowsFullRecompute -= S;
    progress(1);
  }
  if (report.prefixReuse === 'used' && (!given || given.past)) {
    let past: Map<string, PastTensor>;
    if (given?.past) past = given.past;
    else {
      const presents = (await runBatch([0], 0, null, true))!;
      past = new Map<string, PastTensor>();
      for (const [pastName, presentName] of cache!) {
        const t = presents.get(presentName)!;
        past.set(pastName, { type: t.type === 'float16' ? 'float16' : 'float32', data: (await t.getData()) as Float32Array | Uint16Array, dims: t.dims });
        t.dispose?.();
      }
    }
    const baseline: Baseline = { ce0: ce[0]!, past };
    // Units in order of their first changed column, so neighbours in a batch share most of the prefix.
    const starts = Array.from({ length: unitCount }, (_, u) => ({ pass: u + 1, start: firstChanged(job.factorsOf(u), S) }));
    const runnable = starts.filter((s) => s.start < S).sort((a, b) => a.start - b.start);
    for (const s of starts.filter((x) => x.start >= S)) {
      ce[s.pass] = Float64Array.from(ce[0]!);
      report.passesSkipped++;
      progress(1);
    }
    const overhead = opts.overheadRows ?? S / 4;
    let maxBatch = backoff.size;
    if (control.report.sites.some((site) => site.kind === 'GroupQueryAttention') && runnable.length > 1) {
      // onnxruntime's GroupQueryAttention takes several new rows over a past only at batch 1:
      // compare one-at-a-time prefix passes with batched full recomputation and take the cheaper.
      const batched = Math.ceil(runnable.length / maxBatch) * overhead + runnable.length * S;
      const single = runnable.reduce((a, r) => a + overhead + (S - r.start), 0);
      if (single > batched) {
        report.prefixReuse = 'not used: GroupQueryAttention takes a cached prefix only at batch 1, and batched full recomputation was cheaper here';
        await runFromStart(runnable.map((r) => r.pass));
        return finished(baseline);
      }
      maxBatch = backoff.size = report.batchSize = 1;
      note('GroupQueryAttention takes a cached prefix only at batch 1: prefix passes ran one at a time');
    }
    const groups = groupByStart(runnable.map((r) => r.start), S, maxBatch, overhead);
    for (const [from, to] of groups) {
      const group = runnable.slice(from, to);
      await runGroup(group.map((g) => g.pass), group[0]!.start, past);
    }
    return finished(baseline);
  }
  // A given baseline without keys and values (prefix reuse was off when it ran) leaves full recomputation.
  if (report.prefixReuse === 'used') report.prefixReuse = 'not used: the unperturbed pass taken from the level above kept no key/value cache';
  await runFromStart(Array.from({ length: total }, (_, p) => p).filter((p) => !given || p > 0));
  return finished({ ce0: ce[0]!, past: null });
}

/** The first sequence row a unit's pass changes; every row reads the encoder, so an encoder column changes row 0. */
function firstChanged(phi: Float32Array, S: number): number {
  for (let k = S; k < phi.length; k++) if (phi[k] !== 1) return 0;
  const i = phi.findIndex((f) => f !== 1);
  return i < 0 ? S : i;
}

/** [batch, S + E] factors into the self-attention [batch, S] and cross-attention [batch, E] inputs. */
function splitColumns(all: Float32Array, batch: number, S: number, E: number): { self: Float32Array; cross: Float32Array | null } {
  if (E === 0) return { self: all, cross: null };
  const self = new Float32Array(batch * S);
  const cross = new Float32Array(batch * E);
  for (let b = 0; b < batch; b++) {
    self.set(all.subarray(b * (S + E), b * (S + E) + S), b * S);
    cross.set(all.subarray(b * (S + E) + S, (b + 1) * (S + E)), b * E);
  }
  return { self, cross };
}

const brief = (e: unknown): string => String((e as Error).message ?? e).split('\n')[0]!.slice(0, 160);
