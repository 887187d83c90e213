// Does a row's result depend on which other rows and batch items share its tensors? Checked at
// load, on the controlled session, by what the engine's savings rely on: a suppressed column
// leaves the rows before it unchanged, a pass gives the same numbers alone and inside a batch of
// other inputs, and a pass over a cached prefix equals full recomputation. 8-bit models made with
// onnxruntime's dynamic quantization (DynamicQuantizeLinear: one scale per whole tensor) fail all
// three; the static check names such ops before anything runs.
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import type { CouplingOp } from '../../graph/row-coupling';
import type { ValueInfo } from '../../graph/ir/onnx-ir';
import type { TensorCtor } from '../backends/backend';
import { type DecoderContext, INPUTS_EMBEDS, type PastTensor, buildFeeds } from './feeds';
import type { ModelConfig } from '../model/model-config';
import { floatData } from '../backends/tensor-data';

export interface CouplingProbe {
  /** the column suppressed at factor 0 */
  column: number;
  /** largest logit change in the rows before that column (causality: should be 0) and from it on (should not be); null if it could not run */
  rowsBeforeMaxDiff: number | null;
  rowsAfterMaxDiff: number | null;
  /** largest logit difference of one pass alone and the same pass as item 0 of a batch with another input */
  batchMaxDiff: number | null;
  /** a pass from `start` over the cached rows before it against full recomputation; null when the graph takes no cache (or it could not run) */
  prefix: { start: number; maxAbsDiff: number } | null;
  tolerance: number;
  /** checks the backend refused, in words (not counted as coupling: the passes meet the same refusal and its fallbacks) */
  skipped: string[];
}

export interface Coupling {
  /** ops found in the graph that couple rows or batch items */
  ops: CouplingOp[];
  /** what the load-time check measured; null when it was off */
  probe: CouplingProbe | null;
  rows: boolean;
  batch: boolean;
  prefix: boolean;
  /** any of the above: batching, prefix reuse and row picking before the LM head change the numbers */
  coupled: boolean;
  /** why, in words; null when rows and batch items are independent */
  reason: string | null;
}

interface ProbeArgs {
  session: InferenceSession;
  inputs: readonly ValueInfo[];
  config: ModelConfig;
  Tensor: TensorCtor;
  ids: number[];
  context: DecoderContext;
  cache: ReadonlyMap<string, string> | null;
  /** the control switched on in every layer (a switchable graph's layer-mode codes) */
  layerModes: Int32Array;
  /** the controlled session's logits for `ids` with every factor 1: [1, n, V] */
  allOnes: Float32Array;
  tolerance: number;
}

export async function probeCoupling(a: ProbeArgs): Promise<CouplingProbe> {
  const n = a.ids.length;
  const V = a.allOnes.length / n;
  const column = Math.floor(n / 2);
  const feeds = (spec: Omit<Parameters<typeof buildFeeds>[3], 'context'>) => buildFeeds(a.inputs, a.config, a.Tensor, { layerModes: a.layerModes, ...spec, context: a.context });
  const diff = (x: Float32Array, xFrom: number, yFrom: number, rows: number): number => {
    let m = 0;
    for (let i = 0; i < rows * V; i++) m = Math.max(m, Math.abs(x[xFrom * V + i]! - a.allOnes[yFrom * V + i]!));
    return m;
  };

  const skipped: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (e) {
      skipped.push(`${what}: ${String((e as Error).message ?? e).split('\n')[0]!.slice(0, 160)}`);
      return null;
    }
  };

  const suppressed = new Float32Array(n).fill(1);
  suppressed[column] = 0;
  const s = await attempt('suppressed column', () => logits(a.session, feeds({ ids: a.ids, batch: 1, factors: suppressed })));

  // Item 1 differs from item 0 in its input and its factors, as the engine's batch items differ.
  const b = await attempt('batch of two', () => {
    const batchFactors = new Float32Array(2 * n).fill(1);
    batchFactors[n + Math.min(1, n - 1)] = 0;
    const batched = feeds({ ids: a.ids, batch: 2, factors: batchFactors });
    otherSecondItem(batched, a.Tensor);
    return logits(a.session, batched);
  });

  const prefix =
    a.cache && column > 0
      ? await attempt('cached prefix', async () => {
          const full = await a.session.run(feeds({ ids: a.ids, batch: 1, factors: null }), ['logits', ...a.cache!.values()]);
          const past = new Map<string, PastTensor>();
          for (const [pastName, presentName] of a.cache!) {
            const t = full[presentName]!;
            past.set(pastName, { type: t.type === 'float16' ? 'float16' : 'float32', data: (await t.getData()) as Float32Array | Uint16Array, dims: t.dims });
          }
          for (const t of Object.values(full)) t.dispose?.();
          const p = await logits(a.session, feeds({ ids: a.ids.slice(column), batch: 1, factors: null, pastLength: column, past }));
          return { start: column, maxAbsDiff: diff(p, 0, column, n - column) };
        })
      : null;
  return {
    column,
    rowsBeforeMaxDiff: s ? diff(s, 0, 0, column) : null,
    rowsAfterMaxDiff: s ? diff(s, column, column, n - column) : null,
    batchMaxDiff: b ? diff(b, 0, 0, n) : null,
    prefix,
    tolerance: a.tolerance,
    skipped,
  };
}

/** Sums up the static findings and the probe, with the reason in words. */
export function summarizeCoupling(ops: CouplingOp[], probe: CouplingProbe | null): Coupling {
  const tol = probe?.tolerance ?? 0;
  const rows = probe?.rowsBeforeMaxDiff != null && probe.rowsBeforeMaxDiff > tol;
  const batch = probe?.batchMaxDiff != null && probe.batchMaxDiff > tol;
  const prefix = !!probe?.prefix && probe.prefix.maxAbsDiff > tol;
  const why: string[] = [];
  if (ops.length) {
    const kinds = [...new Set(ops.map((o) => o.opType))].join(', ');
    why.push(`the graph holds ${ops.length} ${kinds} node${ops.length > 1 ? 's' : ''} (${ops[0]!.opType} ${ops[0]!.why})`);
  }
  const e = (x: number) => x.toExponential(1);
  if (rows) why.push(`suppressing column ${probe!.column} changed the logits of the rows before it (by up to ${e(probe!.rowsBeforeMaxDiff!)})`);
  if (batch) why.push(`a pass gave different logits inside a batch of other inputs than alone (by up to ${e(probe!.batchMaxDiff!)})`);
  if (prefix) why.push(`a pass over a cached prefix differed from full recomputation (by up to ${e(probe!.prefix!.maxAbsDiff)})`);
  const coupled = why.length > 0;
  return { ops, probe, rows, batch, prefix, coupled, reason: coupled ? `A row's numbers depend on the other rows and batch items in this model: ${why.join('; ')}.` : null };
}

async function logits(session: InferenceSession, feeds: Record<string, OrtTensor>): Promise<Float32Array> {
  const out = await session.run(feeds, ['logits']);
  const t = out.logits!;
  // fp16 logits arrive as raw 16-bit patterns: read them as numbers
  const data = Float32Array.from(await floatData(t));
  t.dispose?.();
  return data;
}

/** Batch item 1 reads the sequence backwards (token ids, or input embeddings) so its activations differ from item 0's. */
function otherSecondItem(feeds: Record<string, OrtTensor>, Tensor: TensorCtor): void {
  const ids = feeds.input_ids;
  if (ids) {
    const n = ids.dims[1]!;
    const data = (ids.data as BigInt64Array | Int32Array).slice();
    for (let i = 0; i < n; i++) data[n + i] = data[n - 1 - i]!;
    feeds.input_ids = ids.type === 'int32' ? new Tensor('int32', data as Int32Array, ids.dims) : new Tensor('int64', data as BigInt64Array, ids.dims);
  }
  const emb = feeds[INPUTS_EMBEDS];
  if (emb) {
    const [, n, dim] = emb.dims as [number, number, number];
    const data = (emb.data as Float32Array).slice();
    for (let i = 0; i < n; i++) data.set(data.subarray((n - 1 - i) * dim, (n - i) * dim), (n + i) * dim);
    feeds[INPUTS_EMBEDS] = new Tensor('float32', data, emb.dims);
  }
}
