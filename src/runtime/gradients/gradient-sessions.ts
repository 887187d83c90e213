// The graphs the gradient methods run, built once per model from the graph as loaded (not the AtMan
// control: the gradient methods manipulate nothing) and cached beside it:
//  - 'embeddings' (input × gradient, integrated gradients): the token-embedding lookup replaced by
//    an input, the score head (target log-probabilities), and d(sum seed · logprobs)/d embeddings
//    (and d/d encoder output for captioners, whose encoder rows are the image's input vectors);
//  - 'attention' (Chefer): the target rows' logits, every attention site's probabilities as outputs
//    (self-attention, and a captioner's cross-attention, each with its role), and
//    d(sum seed · logits)/d each site's probabilities.
// Fused attention is rewritten as standard ops first (the probabilities must exist), stacked caches
// split, and a merged decoder's If resolved to its no-cache branch (every gradient run starts
// without a cache). Two variants are differentiated through a stand-in, said in `notes`: 8-bit
// dynamically quantized graphs run their products as float MatMuls over the dequantized weights
// (the per-tensor activation quantization has no gradient; the gradient is the straight-through
// one, of the model without that rounding), and fp16 graphs compute in float32 over their fp16
// weights.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError } from '../../core/errors';
import { TARGET_LOGPROBS_OUTPUT, TARGET_POSITIONS_INPUT, appendTargetScoring } from '../../graph/append-target-scoring';
import { type AppendGradientsReport, appendGradients } from '../../graph/autodiff/append-gradients';
import { feedTokenEmbeddings } from '../../graph/autodiff/feed-token-embeddings';
import { resolveMergedIf } from '../../graph/autodiff/resolve-merged-if';
import type { AttentionRole } from '../../graph/attention-role';
import { GRADIENT_OPSET, raiseOpsetForGradients } from '../../graph/autodiff/raise-opset';
import { upcastHalf } from '../../graph/autodiff/upcast-half';
import { weightsAsFloatOps } from '../../graph/autodiff/weights-as-float-ops';
import { dequantizeDynamicMatMuls } from '../../graph/dequantize-dynamic-matmuls';
import { exposeAttentionProbs } from '../../graph/expose-attention-probs';
import { findAttentionSites } from '../../graph/find-attention';
import { findRowCoupling } from '../../graph/row-coupling';
import { producers } from '../../graph/ir/graph-utils';
import { type Model, type ValueInfo, decodeModel, encodeModel } from '../../graph/ir/onnx-ir';
import { splitStackedCache } from '../../graph/split-stacked-cache';
import type { AtmanModel } from '../atman/atman-model';
import { attentionReport, chooseAttentionPath } from '../atman/attention-path';
import { ENCODER_STATES } from '../atman/feeds';

export type GradientGraphKind = 'embeddings' | 'attention';

export interface GradientSession {
  kind: GradientGraphKind;
  session: InferenceSession;
  inputs: ValueInfo[];
  /** the input the token embeddings are fed through (embeddings graph) */
  embeddingsInput: string | null;
  /** the encoder output a captioner cross-attends to, differentiated too (embeddings graph); null otherwise */
  encoderInput: string | null;
  /**
   * attention graph: the probability outputs of every attention site in the order the decoder runs
   * them, and the gradient outputs in the same order; embeddings graph: no probabilities, and the
   * gradients of embeddingsInput, then of encoderInput
   */
  probs: string[];
  gradients: string[];
  /** role of each attention site (attention graph): self-attention, or cross-attention to the encoder output */
  roles: AttentionRole[];
  /** element type of the seed input */
  seedType: number;
  report: AppendGradientsReport;
  attention: { attention?: string };
  /** bytes of the encoded graph: the backward graph's size shows here */
  graphBytes: number;
  /** how the graph differentiated differs from the model as shipped, in words (empty when it does not) */
  notes: string[];
}

const sessions = new WeakMap<AtmanModel, Map<GradientGraphKind, Promise<GradientSession>>>();

/** Builds the gradient graph of one kind (exported for tests and the benchmark). */
export function buildGradientGraph(bytes: Uint8Array, kind: GradientGraphKind, expectedLayers?: number): { graph: Model; made: Omit<GradientSession, 'session' | 'graphBytes'> } {
  const graph = decodeModel(bytes);
  // first, so that the ops the passes below write take the raised opset's forms
  const raisedFrom = raiseOpsetForGradients(graph);
  splitStackedCache(graph);
  const path = chooseAttentionPath(graph, 'multiplicative', 'decomposed');
  resolveMergedIf(graph);
  const notes = standIns(graph);
  if (raisedFrom !== null) notes.push(`the opset ${raisedFrom} graph is differentiated as opset ${GRADIENT_OPSET}, whose forms of its ops mean the same`);
  if (kind === 'embeddings') {
    const fed = feedTokenEmbeddings(graph);
    const encoderInput = graph.graph.inputs.some((v) => v.name === ENCODER_STATES) ? ENCODER_STATES : null;
    appendTargetScoring(graph);
    const wrt = encoderInput ? [fed.input, encoderInput] : [fed.input];
    const report = appendGradients(graph, { output: TARGET_LOGPROBS_OUTPUT, wrt, distinctIndices: scoringIndices(graph) });
    return {
      graph,
      made: {
        kind,
        inputs: graph.graph.inputs,
        embeddingsInput: fed.input,
        encoderInput,
        probs: [],
        gradients: report.gradients.map((r) => r.output),
        roles: [],
        seedType: seedTypeOf(graph),
        report,
        attention: attentionReport(path),
        notes,
      },
    };
  }
  appendTargetScoring(graph);
  // After resolveMergedIf every site is in the main graph, in the order exposeAttentionProbs numbers them.
  const roles = (findAttentionSites(graph).get('main') ?? []).map((s) => s.role);
  const selfCount = roles.filter((r) => r === 'self').length;
  if (roles.includes('cross') && expectedLayers !== undefined && selfCount !== expectedLayers) {
    throw new AtmanError('LAYER_COUNT_MISMATCH', `Found ${selfCount} self-attention layers in the decoder graph but the model config says ${expectedLayers}.`);
  }
  // A captioner's decoder has a cross-attention site beside each self-attention layer.
  const exposed = exposeAttentionProbs(graph, expectedLayers !== undefined && !roles.includes('cross') ? { expectedLayers } : {});
  const prod = producers(graph.graph);
  // The exposed output is a Cast of the Softmax output: the gradient is taken at the Softmax output itself.
  const softmaxOut = exposed.outputs.map((o) => prod.get(o.output)!.inputs[0]!);
  const report = appendGradients(graph, { output: 'logits', wrt: softmaxOut, distinctIndices: scoringIndices(graph) });
  return {
    graph,
    made: {
      kind,
      inputs: graph.graph.inputs,
      embeddingsInput: null,
      encoderInput: null,
      probs: exposed.outputs.map((o) => o.output),
      gradients: report.gradients.map((r) => r.output),
      roles: exposed.outputs.map((o) => roles[o.layer]!),
      seedType: seedTypeOf(graph),
      report,
      attention: attentionReport(path),
      notes,
    },
  };
}

/** Makes the graph differentiable where the model as shipped is not, and says how. */
function standIns(graph: Model): string[] {
  const notes: string[] = [];
  const dq = dequantizeDynamicMatMuls(graph);
  weightsAsFloatOps(graph);
  if (dq.rewritten) {
    notes.push(`8-bit dynamic quantization: the gradients are those of the model with its ${dq.rewritten} quantized products run as float MatMuls over the dequantized 8-bit weights (straight-through: the per-tensor activation rounding, which has no gradient, is left out of the forward and backward pass alike)`);
  }
  const coupled = findRowCoupling(graph);
  if (coupled.length) {
    const c = coupled[0]!;
    throw new AtmanError('MODEL_UNSUPPORTED', `The gradient methods run batch items side by side, but ${c.opType} "${c.node}" ${c.why}${coupled.length > 1 ? ` (and ${coupled.length - 1} more such ops)` : ''}; pick this model's fp32 or q4 variant.`);
  }
  const up = upcastHalf(graph);
  if (up.constants || up.casts || up.io.length) {
    notes.push('fp16 graph: the gradient graph computes in float32 over the fp16 weights as stored (every fp16 constant read through a Cast to float32), so its forward values are those of float32 arithmetic, not of the fp16 kernels');
  }
  return notes;
}

/**
 * Index tensors of the score head that never repeat a value: the target rows (distinct positions),
 * and the per-row target ids its GatherElements reads (one element per row). Graphs below opset 16
 * cannot add up repeated indices, so saying so keeps the gradient exact there too.
 */
function scoringIndices(m: Model): string[] {
  const picks = m.graph.nodes.filter((n) => n.opType === 'GatherElements' && n.outputs[0]!.startsWith('atman_score/')).map((n) => n.inputs[1]!);
  return [TARGET_POSITIONS_INPUT, ...picks];
}

const seedTypeOf = (m: Model): number => m.graph.inputs.find((v) => v.name === 'atman_grad_seed')!.elemType;

export function gradientSession(model: AtmanModel, kind: GradientGraphKind): Promise<GradientSession> {
  let byKind = sessions.get(model);
  if (!byKind) sessions.set(model, (byKind = new Map()));
  let made = byKind.get(kind);
  if (made) return made;
  made = (async () => {
    const original = await model.original();
    const { graph, made: parts } = buildGradientGraph(original.bytes, kind, model.config.numLayers);
    const bytes = encodeModel(graph);
    let session: InferenceSession;
    try {
      session = await model.backend.createSession(bytes, original.external);
    } catch (e) {
      throw new AtmanError('BACKEND_FAILED', `The ${model.backend.name} backend could not create the gradient session of ${model.id}: ${(e as Error).message}`);
    }
    return { ...parts, session, graphBytes: bytes.byteLength };
  })();
  byKind.set(kind, made);
  const mine = made;
  made.catch(() => byKind.get(kind) === mine && byKind.delete(kind));
  return made;
}

/** Releases the gradient sessions made for this model, if any. */
export async function releaseGradientSessions(model: AtmanModel): Promise<void> {
  const byKind = sessions.get(model);
  if (!byKind) return;
  sessions.delete(model);
  for (const made of byKind.values()) await (await made.catch(() => null))?.session.release();
}
