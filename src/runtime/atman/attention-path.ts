// Which attention the controlled graph computes: the model's fused kernels, or the same attention
// written out as standard ONNX ops (src/graph/fused/). Multiplicative mode needs the raw q·k scores,
// which no fused op exposes, so it always runs decomposed. Log-additive mode can go through the
// fused ops' attention-bias input instead (GroupQueryAttention, MultiHeadAttention): the same
// arithmetic in the fused kernels, but onnxruntime's GroupQueryAttention then takes a cached prefix
// only at batch 1 and reads only lengths from the attention mask (so occlusion by masking cannot
// run). Measured on a 6-layer builder-layout model on this project's CPU (README, "Graph rewrite"),
// the decomposed graph with batched prefix reuse was the faster of the two (8.1 s against 9.4 s at
// 128 tokens), so 'auto' decomposes in both modes and the fused path is an opt-in.
import type { ControlMode } from '../../core/types';
import { type FusedDecompositionReport, decomposeFusedAttention } from '../../graph/fused/decompose-fused-attention';
import { type Graph, type Model, subgraphs } from '../../graph/ir/onnx-ir';

/** 'auto' lets the engine choose (see planAttention); the others force one path. */
export type AttentionPreference = 'auto' | 'fused' | 'decomposed';
export const ATTENTION_PREFERENCES: readonly AttentionPreference[] = ['auto', 'fused', 'decomposed'];

/** Fused ops that take an additive bias over the scores, so log-additive control can stay fused. */
const BIAS_CAPABLE = new Set(['GroupQueryAttention', 'MultiHeadAttention']);
const FUSED = new Set([...BIAS_CAPABLE, 'Attention']);

/** The run report's words for the path, only where the model had fused attention to keep or rewrite. */
export const attentionReport = (a: AttentionPath): { attention?: string } => (a.kind === 'plain' ? {} : { attention: a.description });

export interface AttentionPath {
  kind: 'decomposed' | 'fused' | 'plain';
  /** in words, for the run report */
  description: string;
  decomposition: FusedDecompositionReport | null;
}

/** com.microsoft attention ops in the graph and its subgraphs, by op type. */
export function fusedAttentionOps(m: Model): Map<string, number> {
  const counts = new Map<string, number>();
  const visit = (g: Graph): void => {
    for (const n of g.nodes) {
      if (n.domain === 'com.microsoft' && FUSED.has(n.opType)) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
      subgraphs(n).forEach(visit);
    }
  };
  visit(m.graph);
  return counts;
}

/** Whether log-additive mode would keep the graph's fused attention (and multiplicative mode rewrite it). */
export function keepsFusedAttention(m: Model, preference: AttentionPreference): boolean {
  const ops = fusedAttentionOps(m);
  return preference === 'fused' && ops.size > 0 && [...ops.keys()].every((op) => BIAS_CAPABLE.has(op));
}

/**
 * Rewrites the graph's fused attention unless the fused path was asked for (log-additive mode and
 * ops that take a bias only), and says which path the passes will take.
 */
export function chooseAttentionPath(m: Model, mode: ControlMode, preference: AttentionPreference): AttentionPath {
  const ops = fusedAttentionOps(m);
  if (ops.size === 0) return { kind: 'plain', description: 'decomposed attention as exported', decomposition: null };
  const names = [...ops].map(([op, n]) => `${n} ${op}`).join(', ');
  const allBiasCapable = [...ops.keys()].every((op) => BIAS_CAPABLE.has(op));
  if (preference === 'fused' && mode === 'log-additive' && allBiasCapable) {
    return { kind: 'fused', description: `fused ${names}, log-additive through the attention_bias input`, decomposition: null };
  }
  const keyMask = m.graph.inputs.find((v) => v.name === 'attention_mask' && v.dims?.length === 2)?.name;
  const decomposition = decomposeFusedAttention(m, keyMask ? { keyMask } : {});
  const why =
    mode === 'multiplicative'
      ? 'multiplicative mode needs the raw q·k scores'
      : !allBiasCapable
        ? `${[...ops.keys()].filter((op) => !BIAS_CAPABLE.has(op)).join(', ')} takes no bias for log-additive control`
        : preference === 'decomposed'
          ? 'as asked'
          : 'for batched prefix reuse and masking; faster here than the fused kernels';
  return { kind: 'decomposed', description: `${names} rewritten as standard ops (${why}); the fused kernels' arithmetic in standard ops`, decomposition };
}
