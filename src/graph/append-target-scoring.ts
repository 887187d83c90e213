// The score head: only the sequence rows that predict target tokens go through
// the LM head, and their log-probabilities of the target ids come out, so a pass
// returns [batch, T] numbers instead of [batch, seq, vocab] logits and skips
// the LM head's work on every other row.
import { constantNames, createNamer, producers, replaceUses } from './ir/graph-utils';
import { DataType, type Graph, type Model, type Node, opsetVersion } from './ir/onnx-ir';
import { makeNode, makeTensor, makeValueInfo } from './ir/onnx-build';

export const TARGET_POSITIONS_INPUT = 'atman_target_positions';
export const TARGET_IDS_INPUT = 'atman_target_ids';
export const TARGET_LOGPROBS_OUTPUT = 'atman_target_logprobs';

export interface TargetScoringReport {
  pass: 'appendTargetScoring';
  logits: string;
  /** where the rows are picked: before the LM head (its MatMul) or, failing that, on the logits */
  rowsPickedAt: 'lm-head input' | 'logits';
  inputs: [string, string];
  output: string;
}

/** Per-position ops between the LM head and the logits (bias, soft-capping). */
const PER_POSITION_OPS = new Set(['Add', 'Mul', 'Div', 'Sub', 'Tanh', 'Cast']);

/** The LM head: the MatMul with a constant weight that the logits come from. */
function findLmHead(g: Graph, logits: string): Node | undefined {
  const prod = producers(g);
  const isConst = constantNames(g);
  let name = logits;
  for (let depth = 0; depth < 6; depth++) {
    const p = prod.get(name);
    if (!p) return undefined;
    const weight = p.inputs[1];
    if ((p.opType === 'MatMul' || p.opType === 'MatMulNBits' || p.opType === 'Gemm') && weight && (isConst.has(weight) || prod.get(weight)?.opType === 'Transpose')) {
      return p.opType === 'Gemm' ? undefined : p; // Gemm is 2-D only: leave it alone
    }
    if (!PER_POSITION_OPS.has(p.opType)) return undefined;
    const next = p.inputs.filter((i) => i && !isConst.has(i));
    if (next.length !== 1) return undefined;
    name = next[0]!;
  }
  return undefined;
}

/**
 * Adds inputs `atman_target_positions` and `atman_target_ids` (int64 [T]: the
 * sequence rows to score and the token each should predict) and the output
 * `atman_target_logprobs` float32 [batch, T] = log softmax(logits[:, pos_t])[id_t].
 * The `logits` output then holds only the chosen rows: [batch, T, vocab].
 */
export function appendTargetScoring(
  model: Model,
  logitsName = 'logits',
  /** 'logits': pick the rows after the LM head, for graphs whose LM head couples rows (per-tensor activation quantization) */
  opts: { rowsAt?: 'auto' | 'logits' } = {},
): TargetScoringReport {
  const g = model.graph;
  const logits = g.outputs.find((o) => o.name === logitsName);
  if (!logits) throw new Error(`the graph has no "${logitsName}" output to score`);
  const name = createNamer(model, 'atman_score');
  const opset = opsetVersion(model);
  const int64 = (hint: string, values: bigint[]) => {
    const n = name(hint);
    g.initializers.push(makeTensor(n, DataType.INT64, [values.length], BigInt64Array.from(values)));
    return n;
  };
  g.inputs.push(
    makeValueInfo(TARGET_POSITIONS_INPUT, DataType.INT64, ['target_length']),
    makeValueInfo(TARGET_IDS_INPUT, DataType.INT64, ['target_length']),
  );
  const head = opts.rowsAt === 'logits' ? undefined : findLmHead(g, logitsName);
  let rowsPickedAt: TargetScoringReport['rowsPickedAt'] = 'logits';
  if (head) {
    const hidden = head.inputs[0]!;
    const picked = name('hidden_rows');
    g.nodes.push(makeNode('Gather', [hidden, TARGET_POSITIONS_INPUT], [picked], { axis: 1 }));
    replaceUses([head], hidden, picked);
    rowsPickedAt = 'lm-head input';
  }
  logits.dims = logits.dims ? [logits.dims[0] ?? null, 'target_length', logits.dims[2] ?? null] : null;
  delete logits.raw;
  // Scoring in fp32 whatever the model computes in: fp16 log-softmax loses the small differences AtMan measures.
  if (!head) {
    // No LM head found: pick the rows from the logits (correct, only less saving).
    const full = name('all_logits');
    replaceUses(g.nodes, logitsName, full);
    for (const n of g.nodes) n.outputs = n.outputs.map((o) => (o === logitsName ? full : o));
    g.nodes.push(makeNode('Gather', [full, TARGET_POSITIONS_INPUT], [logitsName], { axis: 1 }));
  }
  const f32 = logits.elemType === DataType.FLOAT ? logitsName : name('logits_f32');
  if (f32 !== logitsName) g.nodes.push(makeNode('Cast', [logitsName], [f32], { to: DataType.FLOAT }));
  const logp = name('target_log_softmax');
  g.nodes.push(makeNode('LogSoftmax', [f32], [logp], { axis: -1 })); // [B, T, V]
  // GatherElements wants indices shaped like the data but for the last axis: [B, T, 1].
  const batch = name('batch');
  const ids3 = name('ids_1_T_1');
  const idsShape = name('ids_shape');
  const idsB = name('ids_B_T_1');
  const picked = name('picked');
  const unsq = (x: string, axes: bigint[], out: string) =>
    opset >= 13 ? makeNode('Unsqueeze', [x, int64('axes', axes)], [out]) : makeNode('Unsqueeze', [x], [out], { axes: axes.map(Number) });
  const squeezed = opset >= 13
    ? makeNode('Squeeze', [picked, int64('axes', [2n])], [TARGET_LOGPROBS_OUTPUT])
    : makeNode('Squeeze', [picked], [TARGET_LOGPROBS_OUTPUT], { axes: [2] });
  const logitsShape = name('logits_shape');
  const tLen = name('t_len');
  g.nodes.push(
    unsq(TARGET_IDS_INPUT, [0n, 2n], ids3),
    makeNode('Shape', [f32], [logitsShape]),
    makeNode('Gather', [logitsShape, int64('zero', [0n])], [batch], { axis: 0 }),
    makeNode('Shape', [TARGET_IDS_INPUT], [tLen]),
    makeNode('Concat', [batch, tLen, int64('one', [1n])], [idsShape], { axis: 0 }),
    makeNode('Expand', [ids3, idsShape], [idsB]),
    makeNode('GatherElements', [logp, idsB], [picked], { axis: 2 }),
    squeezed,
  );
  g.outputs.push(makeValueInfo(TARGET_LOGPROBS_OUTPUT, DataType.FLOAT, ['batch_size', 'target_length']));
  return { pass: 'appendTargetScoring', logits: logitsName, rowsPickedAt, inputs: [TARGET_POSITIONS_INPUT, TARGET_IDS_INPUT], output: TARGET_LOGPROBS_OUTPUT };
}
