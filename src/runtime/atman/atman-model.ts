// A causal LM ready for AtMan: files fetched, graph rewritten with the
// attention control, session created and checked against the unmodified model.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError, checkCancelled, isAtmanError } from '../../core/errors';
import type { ControlMode } from '../../core/types';
import { type TargetScoringReport, appendTargetScoring } from '../../graph/append-target-scoring';
import { type AttentionControlReport, insertAttentionControl } from '../../graph/insert-attention-control';
import { DataType, type Model, type ValueInfo, decodeModel, encodeModel } from '../../graph/ir/onnx-ir';
import { type SplitStackedCacheReport, splitStackedCache } from '../../graph/split-stacked-cache';
import { type AttentionPath, type AttentionPreference, chooseAttentionPath } from './attention-path';
import { dequantizeDynamicMatMuls } from '../../graph/dequantize-dynamic-matmuls';
import { findRowCoupling } from '../../graph/row-coupling';
import { type Coupling, type CouplingProbe, probeCoupling, summarizeCoupling } from './coupling-check';
import type { ExternalFile, OrtBackend } from '../backends/backend';
import { type DtypeRequest, type ModelDtype, needsFp16 } from '../model/dtypes';
import type { VariantChoice } from '../sources/dtype-choice';
import { resolveModelFiles } from '../sources/model-files';
import { type EmbeddingTable, findTokenEmbedding } from '../model/embeddings';
import { type DecoderContext, ENCODER_STATES, buildFeeds, checkInputs, isPastInput, presentNameFor } from './feeds';
import { loadImageProcessor } from '../image/image-processor';
import type { ModelConfig } from '../model/model-config';
import type { ModelLayout } from '../model/model-layout';
import { type VisionParts, embedTokens, releaseVisionParts } from '../image/vision-sessions';
import type { FileProgress, ModelSource } from '../sources/model-source';
import { floatData } from '../backends/tensor-data';
import { type TextTokenizer, loadTokenizer, withinVocabulary } from '../model/text-tokenizer';
import { loadAuxiliary, readExternalFiles } from './graph-files';

export interface LoadProgress {
  stage: 'download' | 'rewrite' | 'session' | 'self-check';
  file?: string;
  loaded: number;
  total: number | null;
}

/** What results record about the model that produced them. */
export interface ModelFacts {
  id: string;
  dtype: string;
  backend: string;
  device: string;
  /** the decoder graph's path in the repository */
  file: string;
  /** why this dtype: asked for, or the automatic choice and its reasons */
  dtypeReason?: string;
}

export interface LoadOptions {
  /** a variant, or 'auto' (default): chosen by backend from what the repository has */
  dtype?: DtypeRequest;
  mode?: ControlMode;
  layers?: readonly number[] | null;
  /** fused attention kept or rewritten as standard ops (default 'auto': see attention-path.ts) */
  attention?: AttentionPreference;
  /** compare all-ones factors with the unmodified model once at load (default true) */
  selfCheck?: boolean;
  onProgress?: (p: LoadProgress) => void;
  /** checked between download chunks and between the stages; a cancelled load throws CANCELLED and keeps no session */
  signal?: AbortSignal;
}

export interface SelfCheck {
  maxAbsDiff: number;
  tolerance: number;
  positions: number;
  /** suppressed column, batch and prefix checks: do rows and batch items stay independent? */
  coupling: CouplingProbe;
}

export interface ControlState {
  mode: ControlMode;
  layers: readonly number[] | null;
  report: AttentionControlReport;
  scoring: TargetScoringReport;
  /** stacked key/value caches the graph came with, now split (none for most exports) */
  cacheSplit: SplitStackedCacheReport;
  /** the attention the passes compute: as exported, the model's fused kernels, or those rewritten as standard ops */
  attention: AttentionPath;
  session: InferenceSession;
  inputs: ValueInfo[];
  /** past input -> present output, when the graph takes and returns a key/value cache */
  cache: Map<string, string> | null;
  selfCheck: SelfCheck | null;
  /** whether rows and batch items are computed independently (static check, and the self-check's probe when it ran) */
  coupling: Coupling;
}

/** The token ids the load-time checks run (self-check, masking check): spread over the vocabulary, deterministic. */
export const checkTokenIds = (n: number, vocabSize: number): number[] => Array.from({ length: n }, (_, i) => (i * 7919 + 3) % vocabSize);

export class AtmanModel {
  private constructor(
    readonly id: string,
    /** the variant loaded, why it was chosen, and the others the repository has */
    readonly variant: VariantChoice,
    readonly onnxFile: string,
    readonly config: ModelConfig,
    readonly tokenizer: TextTokenizer,
    readonly backend: OrtBackend,
    readonly embeddings: EmbeddingTable | null,
    readonly layout: ModelLayout,
    /** image encoder and embedding graphs of a vision-language model */
    readonly vision: VisionParts | null,
    private readonly graphBytes: Uint8Array,
    private readonly external: ExternalFile[],
    private control: ControlState,
    private readonly attentionPreference: AttentionPreference = 'auto',
  ) {}

  get dtype(): ModelDtype {
    return this.variant.dtype;
  }

  /** The model's facts as results record them (the JSON's `model`). */
  get facts(): ModelFacts {
    return { id: this.id, dtype: this.dtype, backend: this.backend.name, device: this.backend.device, file: this.onnxFile, dtypeReason: this.variant.reason };
  }

  get current(): ControlState {
    return this.control;
  }

  /** The graph as loaded, before any rewrite, and the weight files it points to: for other graph passes over the same model. */
  get original(): { bytes: Uint8Array; external: readonly ExternalFile[] } {
    return { bytes: this.graphBytes, external: this.external };
  }

  static async load(given: ModelSource, backend: OrtBackend, opts: LoadOptions = {}): Promise<AtmanModel> {
    const requested = opts.dtype ?? 'auto';
    if (requested !== 'auto' && needsFp16(requested) && !backend.supportsFp16) {
      throw fp16Error(backend, requested);
    }
    const cancelled = (): void => checkCancelled(opts.signal, 'Loading the model was cancelled.');
    cancelled();
    // Thrown from a download's progress, the cancel stops the read between chunks.
    const progress = (p: FileProgress): void => {
      cancelled();
      opts.onProgress?.({ stage: 'download', ...p });
    };
    const { source, config, layout, choice, graphs } = await resolveModelFiles(given, backend, requested, progress);
    const { decoder: onnxFile, encoder: encoderFile, embedTokens: embedFile } = graphs;
    const dtype = choice.dtype;
    const tokenizer = withinVocabulary(await loadTokenizer(source), config.vocabSize);
    const graphBytes = await source.read(onnxFile, progress);

    cancelled();
    opts.onProgress?.({ stage: 'rewrite', loaded: 0, total: 1 });
    const probe = decodeModel(graphBytes);
    if (!backend.supportsFp16 && hasFp16(probe)) throw fp16Error(backend, dtype);
    const external = await readExternalFiles(probe, source, onnxFile, progress);
    const byLocation = new Map(external.map((f) => [f.path, f.data]));
    let embeddings = findTokenEmbedding(probe.graph, (loc) => byLocation.get(loc));

    let vision: VisionParts | null = null;
    cancelled();
    if (layout !== 'causal') {
      const encoder = await loadAuxiliary(source, backend, encoderFile!, progress);
      const embed = embedFile ? await loadAuxiliary(source, backend, embedFile, progress) : null;
      const processor = await loadImageProcessor(source);
      vision = { layout, encoder: encoder.session, encoderFile: encoderFile!, embedTokens: embed?.session ?? null, embedFile, processor };
      embeddings ??= embed?.table ?? null;
    }
    const model = new AtmanModel(source.id, choice, onnxFile, config, tokenizer, backend, embeddings, layout, vision, graphBytes, external, undefined as unknown as ControlState, opts.attention ?? 'auto');
    try {
      model.control = await model.buildControl(opts.mode ?? 'multiplicative', opts.layers ?? null, opts.selfCheck ?? true, opts.onProgress, undefined, opts.signal);
    } catch (e) {
      await releaseVisionParts(vision);
      throw e;
    }
    return model;
  }

  /** the unmodified model's logits on the self-check input, computed once */
  private referenceLogits: Float32Array | null = null;

  /** Rewrites the graph for another mode or layer set (a new session, self-checked like the first). */
  async reconfigure(mode: ControlMode, layers: readonly number[] | null, selfCheck = this.control.selfCheck !== null): Promise<void> {
    const same = mode === this.control.mode && JSON.stringify(layers) === JSON.stringify(this.control.layers);
    if (same) return;
    const next = await this.buildControl(mode, layers, selfCheck);
    const old = this.control.session;
    this.control = next;
    await old.release();
    await this.releaseVariant();
  }

  /** the dequantized variant of a coupled model, built on first use for the current mode and layers */
  private dequantized: Promise<ControlState> | null = null;

  /**
   * The same control over a graph whose dynamically quantized MatMuls run over the dequantized
   * 8-bit weights: rows and batch items independent, numbers not the model's own.
   */
  dequantizedControl(): Promise<ControlState> {
    this.dequantized ??= this.buildControl(this.control.mode, this.control.layers, false, undefined, 'dequantized');
    const built = this.dequantized;
    built.catch(() => {
      if (this.dequantized === built) this.dequantized = null;
    });
    return built;
  }

  private async releaseVariant(): Promise<void> {
    const v = this.dequantized;
    this.dequantized = null;
    if (v) await (await v.catch(() => null))?.session.release();
  }

  async release(): Promise<void> {
    await this.releaseVariant();
    await this.control.session.release();
    await releaseVisionParts(this.vision);
  }

  private async buildControl(
    mode: ControlMode,
    layers: readonly number[] | null,
    selfCheck: boolean,
    onProgress?: (p: LoadProgress) => void,
    variant?: 'dequantized',
    signal?: AbortSignal,
  ): Promise<ControlState> {
    const cancelled = (): void => checkCancelled(signal, 'Loading the model was cancelled.');
    const graph = decodeModel(this.graphBytes);
    // Before anything else: the later passes and the feeds see caches as separate keys and values.
    const cacheSplit = splitStackedCache(graph);
    const attention = chooseAttentionPath(graph, mode, this.attentionPreference);
    if (variant === 'dequantized') dequantizeDynamicMatMuls(graph);
    const couplingOps = findRowCoupling(graph);
    const report = insertAttentionControl(graph, { mode, layers, expectedLayers: this.config.numLayers });
    // A coupled LM head must see every row: pick the scored rows from its output.
    const scoring = appendTargetScoring(graph, 'logits', { rowsAt: couplingOps.length ? 'logits' : 'auto' });
    checkInputs(graph.graph.inputs);
    const rewritten = encodeModel(graph);
    cancelled();
    onProgress?.({ stage: 'session', loaded: 0, total: 1 });
    const session = await this.createSession(rewritten);
    const state: ControlState = {
      mode,
      layers,
      report,
      scoring,
      cacheSplit,
      attention,
      session,
      inputs: graph.graph.inputs,
      cache: cacheMap(graph),
      selfCheck: null,
      coupling: summarizeCoupling(couplingOps, null),
    };
    try {
      cancelled();
    } catch (e) {
      await session.release();
      throw e;
    }
    if (selfCheck) {
      onProgress?.({ stage: 'self-check', loaded: 0, total: 1 });
      try {
        cancelled();
        state.selfCheck = await this.runSelfCheck(state);
        state.coupling = summarizeCoupling(couplingOps, state.selfCheck.coupling);
        cancelled();
      } catch (e) {
        await session.release();
        throw e;
      }
    }
    return state;
  }

  private async createSession(bytes: Uint8Array): Promise<InferenceSession> {
    try {
      return await this.backend.createSession(bytes, this.external);
    } catch (e) {
      throw new AtmanError('BACKEND_FAILED', `The ${this.backend.name} backend could not create a session for ${this.id}: ${(e as Error).message}`);
    }
  }

  /** All-ones factors must reproduce the unmodified model's logits. */
  private async runSelfCheck(state: ControlState): Promise<SelfCheck> {
    const n = Math.min(8, this.config.maxPositions);
    const ids = checkTokenIds(n, this.config.vocabSize);
    const context = await this.selfCheckContext(ids, state.inputs);
    if (!this.referenceLogits) {
      // A second full session only once; it is released before the passes run.
      const original = await this.createSession(this.graphBytes);
      try {
        const inputs = decodeModel(this.graphBytes).graph.inputs;
        this.referenceLogits = await logitsOf(original, buildFeeds(inputs, this.config, this.backend.Tensor, { ids, batch: 1, factors: null, context }));
      } finally {
        await original.release();
      }
    }
    const reference = this.referenceLogits;
    const controlled = await logitsOf(state.session, buildFeeds(state.inputs, this.config, this.backend.Tensor, { ids, batch: 1, factors: null, context }));
    let maxAbsDiff = 0;
    let scale = 1;
    for (let i = 0; i < reference.length; i++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(reference[i]! - controlled[i]!));
      scale = Math.max(scale, Math.abs(reference[i]!));
    }
    // Fused attention rewritten as standard ops sums in another order than the fused kernel:
    // rounding-level differences (a few 1e-6 of the largest logit on a 6-layer model), where a
    // wrong layout differs in the first digit.
    const rounding = state.attention.kind === 'decomposed' ? 1e-5 : 1e-6;
    const tolerance = (this.dtype === 'fp32' || this.dtype === 'q8' || this.dtype === 'q4' ? rounding : 1e-2) * scale;
    if (!(maxAbsDiff <= tolerance)) {
      throw new AtmanError(
        'SELF_CHECK_FAILED',
        `The rewritten graph does not reproduce the model with all factors at 1 (max logit difference ${maxAbsDiff.toExponential(2)} > ${tolerance.toExponential(2)}); its attention layout is not one the rewriter handles correctly.`,
      );
    }
    const coupling = await probeCoupling({
      session: state.session,
      inputs: state.inputs,
      config: this.config,
      Tensor: this.backend.Tensor,
      ids,
      context,
      cache: state.cache,
      allOnes: controlled,
      // Looser than the identity check: a batch or a shorter pass may sum in another order on a GPU
      // (float rounding, ~1e-7 relative); coupling through an 8-bit scale moves logits by 1e-2 and more.
      tolerance: Math.max(tolerance, 1e-5 * scale),
    });
    return { maxAbsDiff, tolerance, positions: n, coupling };
  }

  /** Embeddings and an encoder output for the self-check input, where the decoder takes them. */
  private async selfCheckContext(ids: number[], inputs: readonly ValueInfo[]): Promise<DecoderContext> {
    const context: DecoderContext = {};
    if (this.vision?.embedTokens) context.embeds = await embedTokens(this.vision, this.backend, ids);
    const enc = inputs.find((v) => v.name === ENCODER_STATES);
    if (enc) {
      const dim = typeof enc.dims?.[2] === 'number' ? enc.dims[2] : encoderHiddenSize(this.config);
      // A fixed pseudo-random encoder output: the check is about the decoder's arithmetic.
      const E = 5;
      context.encoder = { data: Float32Array.from({ length: E * dim }, (_, i) => Math.sin(i * 12.9898) * 0.5), dims: [1, E, dim] };
    }
    return context;
  }
}

function encoderHiddenSize(config: ModelConfig): number {
  const enc = config.raw.encoder as Record<string, unknown> | undefined;
  const h = enc?.hidden_size ?? enc?.d_model;
  if (typeof h !== 'number') throw new AtmanError('MODEL_UNSUPPORTED', 'config.json does not say the encoder hidden size.');
  return h;
}

export async function logitsOf(session: InferenceSession, feeds: Parameters<InferenceSession['run']>[0]): Promise<Float32Array> {
  const out = await session.run(feeds, ['logits']);
  const t = out.logits!;
  const result = await floatData(t);
  t.dispose?.();
  return result;
}

function cacheMap(m: Model): Map<string, string> | null {
  const outputs = new Set(m.graph.outputs.map((o) => o.name));
  const past = m.graph.inputs.filter((v) => isPastInput(v.name));
  if (past.length === 0) return null;
  const map = new Map<string, string>();
  for (const v of past) {
    const present = presentNameFor(v.name).find((n) => outputs.has(n));
    if (!present) return null;
    map.set(v.name, present);
  }
  return map;
}

function hasFp16(m: Model): boolean {
  return m.graph.initializers.some((t) => t.dataType === DataType.FLOAT16) || m.graph.outputs.some((o) => o.elemType === DataType.FLOAT16);
}

function fp16Error(backend: OrtBackend, dtype: string): AtmanError {
  return new AtmanError(
    'FP16_UNSUPPORTED',
    `This model variant (${dtype}) computes in 16-bit floats, which the ${backend.name} backend here (${backend.device}) cannot run correctly (no shader-f16). Choose the fp32, q8 or q4 variant.`,
  );
}
