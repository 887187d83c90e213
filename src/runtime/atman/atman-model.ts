// A causal LM ready for AtMan: files fetched, graph rewritten with the
// attention control, session created and checked against the unmodified model.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError, checkCancelled, isAtmanError } from '../../core/errors';
import type { ControlMode } from '../../core/types';
import { type TargetScoringReport, appendTargetScoring } from '../../graph/append-target-scoring';
import { type AttentionControlReport, insertAttentionControl, layerModes, reportFor } from '../../graph/insert-attention-control';
import { DataType, type Model, type ValueInfo, decodeModel, encodeModel } from '../../graph/ir/onnx-ir';
import { referenceWeightsInFile } from '../../graph/ir/weights-by-reference';
import { type SplitStackedCacheReport, splitStackedCache } from '../../graph/split-stacked-cache';
import { type AttentionPath, type AttentionPreference, chooseAttentionPath, keepsFusedAttention } from './attention-path';
import { dequantizeDynamicMatMuls } from '../../graph/dequantize-dynamic-matmuls';
import { findRowCoupling } from '../../graph/row-coupling';
import { type Coupling, type CouplingProbe, probeCoupling, summarizeCoupling } from './coupling-check';
import type { ExternalFile, OrtBackend } from '../backends/backend';
import { type DtypeRequest, type ModelDtype, needsFp16 } from '../model/dtypes';
import type { VariantChoice } from '../sources/dtype-choice';
import { resolveModelFiles } from '../sources/model-files';
import { type EmbeddingTable, bounded } from '../model/embeddings';
import { type DecoderContext, ENCODER_STATES, buildFeeds, checkInputs, isPastInput, presentNameFor } from './feeds';
import { loadImageProcessor } from '../image/image-processor';
import type { ModelConfig } from '../model/model-config';
import type { ModelLayout } from '../model/model-layout';
import { type VisionParts, embedTokens, releaseVisionParts } from '../image/vision-sessions';
import type { FileProgress, ModelSource } from '../sources/model-source';
import { floatData } from '../backends/tensor-data';
import { type TextTokenizer, loadTokenizer, withinVocabulary } from '../model/text-tokenizer';
import { embeddingTable, loadAuxiliary, readGraph } from './graph-files';
import { limitsFromGraph } from '../model/model-limits';

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
  /**
   * check at load that all-ones factors reproduce the model (default true; see runSelfCheck);
   * 'reference' always runs the unmodified graph for the reference, even where the rewrite only added the control
   */
  selfCheck?: boolean | 'reference';
  onProgress?: (p: LoadProgress) => void;
  /** checked between download chunks and between the stages; a cancelled load throws CANCELLED and keeps no session */
  signal?: AbortSignal;
}

export interface SelfCheck {
  maxAbsDiff: number;
  tolerance: number;
  positions: number;
  /**
   * what the controlled graph was compared with: the unmodified graph run before the controlled
   * session was created ('original'), or the controlled graph with every layer switched off ('bypass')
   */
  reference: 'original' | 'bypass';
  /** suppressed column, batch and prefix checks: do rows and batch items stay independent? */
  coupling: CouplingProbe;
}

export interface ControlState {
  mode: ControlMode;
  layers: readonly number[] | null;
  /** what the current mode and layers control */
  report: AttentionControlReport;
  /** the graph's own report: every site it can switch, the modes it can switch to */
  graphReport: AttentionControlReport;
  /** the per-layer mode feed for the current mode and layers (feeds.layerModes) */
  layerModes: Int32Array;
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

/** Seconds of each load stage, and the process's peak memory after loading where the runtime says (Node). */
export interface LoadTimes {
  download: number;
  rewrite: number;
  session: number;
  selfCheck: number;
  /** of selfCheck: the coupling probe's passes */
  couplingProbe: number;
  /** of selfCheck: the unmodified graph's session and pass, where the reference came from it */
  reference: number;
  total: number;
  peakRssBytes?: number;
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
    /** the graph file as read; dropped after loading where it can be read again from disk (see load) */
    private graphBytes: Uint8Array | null,
    private readonly external: ExternalFile[],
    private control: ControlState,
    private readonly attentionPreference: AttentionPreference = 'auto',
    private readonly source: ModelSource | null = null,
  ) {}

  /** the graph file on disk, where the source is a folder and the backend reads weights by path */
  private graphPath: string | null = null;
  /** whether the graph file's bytes are let go once the controlled graph is encoded (they can be read again) */
  private dropBytes = false;

  private async graphFile(): Promise<Uint8Array> {
    return this.graphBytes ?? (await this.source!.read(this.onnxFile));
  }

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

  /** The graph as loaded, before any rewrite, and the weight files it points to: for other graph passes over the same model (read again from disk where it was dropped). */
  async original(): Promise<{ bytes: Uint8Array; external: readonly ExternalFile[] }> {
    return { bytes: await this.graphFile(), external: this.external };
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
    const t0 = performance.now();
    const resolved = await resolveModelFiles(given, backend, requested, progress);
    const { source, layout, choice, graphs } = resolved;
    const { decoder: onnxFile, encoder: encoderFile, embedTokens: embedFile } = graphs;
    const dtype = choice.dtype;
    // The config's context length bounds the cheap length refusal; the graph's own tables (below) cap it further.
    const fullTokenizer = await loadTokenizer(source, { maxTokens: resolved.config.maxPositions });
    // Both let go before the session is created (below, and in buildControl), so that only the
    // model's own field holds the file's bytes while onnxruntime loads the weights.
    let graphBytes: Uint8Array | null;
    let probe: Model | null;
    let external: ExternalFile[];
    const byPath = backend.readsFilesByPath === true;
    ({ bytes: graphBytes, model: probe, external } = await readGraph(source, onnxFile, progress, (m) => {
      if (!backend.supportsFp16 && hasFp16(m)) throw fp16Error(backend, dtype);
    }, byPath));
    const downloaded = performance.now();

    cancelled();
    opts.onProgress?.({ stage: 'rewrite', loaded: 0, total: 1 });
    const found = await embeddingTable(probe, external, source, onnxFile);
    let embeddings = found.table;

    let vision: VisionParts | null = null;
    cancelled();
    if (layout !== 'causal') {
      const encoder = await loadAuxiliary(source, backend, encoderFile!, progress);
      const embed = embedFile ? await loadAuxiliary(source, backend, embedFile, progress) : null;
      const processor = await loadImageProcessor(source);
      vision = { layout, encoder: encoder.session, encoderFile: encoderFile!, embedTokens: embed?.session ?? null, embedFile, processor };
      embeddings ??= embed?.table ?? null;
    }
    const config = limitsFromGraph(resolved.config, probe.graph, embeddings);
    const tokenizer = withinVocabulary(fullTokenizer, config.vocabSize);
    // Where the backend reads weights from files (onnxruntime-node) and the graph lies on disk, the
    // controlled graph points at the weights inside the original file and the bytes read here are
    // let go after loading: another pass over the graph reads the file again. Where the source reads
    // files again cheaply (a folder, picked files, Cache Storage: the browser), the bytes go once the
    // controlled graph is encoded, before its session is created, so the tab never holds the file,
    // its rewritten copy and onnxruntime's copy at once. The token-embedding table is then copied out
    // of them (as floats) unless that copy would be larger than half the file.
    const graphPath = backend.readsFilesByPath ? (source.localPath?.(onnxFile) ?? null) : null;
    const keepBytes = !(graphPath || source.rereadable) || (embeddings !== null && !found.ownBytes && config.vocabSize * embeddings.dim * 4 > graphBytes.length / 2);
    if (!keepBytes && embeddings && !found.ownBytes) embeddings = ownedEmbeddings(embeddings, config.vocabSize);
    const model = new AtmanModel(source.id, choice, onnxFile, config, tokenizer, backend, embeddings, layout, vision, graphBytes, external, undefined as unknown as ControlState, opts.attention ?? 'auto', source);
    model.graphPath = graphPath;
    model.dropBytes = !keepBytes;
    model.fusedCapable = keepsFusedAttention(probe, model.attentionPreference);
    graphBytes = null;
    probe = null;
    try {
      model.control = await model.buildControl(opts.mode ?? 'multiplicative', opts.layers ?? null, opts.selfCheck ?? true, opts.onProgress, undefined, opts.signal);
    } catch (e) {
      await releaseVisionParts(vision);
      throw e;
    }
    const times = model.loadTimes;
    times.download = (downloaded - t0) / 1000;
    times.total = (performance.now() - t0) / 1000;
    const rss = peakRss();
    if (rss !== undefined) times.peakRssBytes = rss;
    return model;
  }

  /** Seconds of each stage of the last load (or rebuild), for the run report and the bench. */
  readonly loadTimes: LoadTimes = { download: 0, rewrite: 0, session: 0, selfCheck: 0, couplingProbe: 0, reference: 0, total: 0 };

  /** the unmodified graph's logits on the self-check input, where they were needed: computed once */
  private referenceLogits: Float32Array | null = null;

  /** whether log-additive mode keeps the model's fused attention ops (attention 'fused' and only bias-capable ops) */
  private fusedCapable = false;

  /**
   * Another mode or layer set. The graph takes both as inputs (insertAttentionControl's switchable
   * control), so this changes what the passes feed, not the session, and the load-time checks stay
   * valid: with all factors at 1 every mode and layer set is the same identity. Only the opt-in
   * fused path is per mode (its fused ops take an additive bias alone, so multiplicative mode needs
   * them rewritten): crossing between log-additive and multiplicative there builds a new graph and
   * session, self-checked like the first.
   */
  async reconfigure(mode: ControlMode, layers: readonly number[] | null, selfCheck = this.control.selfCheck !== null): Promise<void> {
    const same = mode === this.control.mode && JSON.stringify(layers) === JSON.stringify(this.control.layers);
    if (same) return;
    const fused = this.fusedCapable && mode === 'log-additive';
    if (fused !== (this.control.attention.kind === 'fused')) {
      const next = await this.buildControl(mode, layers, selfCheck);
      const old = this.control.session;
      this.control = next;
      await old.release();
      await this.releaseVariant();
      return;
    }
    const switched = (c: ControlState): ControlState => ({ ...c, mode, layers, layerModes: layerModes(c.graphReport, mode, layers), report: reportFor(c.graphReport, mode, layers) });
    this.control = switched(this.control);
    const variant = this.dequantized;
    if (variant) this.dequantized = variant.then(switched);
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
    selfCheck: boolean | 'reference',
    onProgress?: (p: LoadProgress) => void,
    variant?: 'dequantized',
    signal?: AbortSignal,
  ): Promise<ControlState> {
    const cancelled = (): void => checkCancelled(signal, 'Loading the model was cancelled.');
    const times = this.loadTimes;
    let t = performance.now();
    const lap = (): number => {
      const now = performance.now();
      const s = (now - t) / 1000;
      t = now;
      return s;
    };
    let bytes: Uint8Array | null = await this.graphFile();
    let graph: Model | null = decodeModel(bytes);
    // Before anything else: the later passes and the feeds see caches as separate keys and values.
    const cacheSplit = splitStackedCache(graph);
    const attention = chooseAttentionPath(graph, mode, this.attentionPreference);
    if (variant === 'dequantized') dequantizeDynamicMatMuls(graph);
    const couplingOps = findRowCoupling(graph);
    const graphReport = insertAttentionControl(graph, { mode, layers, expectedLayers: this.config.numLayers, switchable: true });
    // A coupled LM head must see every row: pick the scored rows from its output.
    const scoring = appendTargetScoring(graph, 'logits', { rowsAt: couplingOps.length ? 'logits' : 'auto' });
    checkInputs(graph.graph.inputs);
    const external = this.external;
    // The encoded graph holds no second copy of the weights: onnxruntime-node reads them from the
    // file on disk, onnxruntime-web takes the bytes already read as external data (it copies each
    // weight from there into its own memory, as it would from an inline graph).
    const inMemory = !this.graphPath && !this.backend.readsFilesByPath;
    const sessionFiles: ExternalFile[] = this.graphPath
      ? [...external, { path: ORIGINAL_GRAPH_FILE, data: new Uint8Array(0), size: 0, diskPath: this.graphPath }]
      : inMemory
        ? [...external, { path: ORIGINAL_GRAPH_FILE, data: bytes, size: bytes.length }]
        : external;
    if (this.graphPath || inMemory) referenceWeightsInFile(graph, bytes, ORIGINAL_GRAPH_FILE);
    const rewritten = encodeModel(graph);
    if (!variant) times.rewrite = lap();

    // The rewrite changed kernels (fused attention as standard ops, stacked caches split) or a
    // reference was asked for: the unmodified graph gives the reference, in a session created,
    // run and released before the controlled one exists, so two never hold the weights at once.
    // Value infos are views into the file's bytes: copied, so that nothing kept refers to them.
    const inputs = graph.graph.inputs.map((v) => ({ ...v, ...(v.raw ? { raw: v.raw.slice() } : {}) }));
    const cache = cacheMap(graph);
    // Awaited here: onnxruntime-web runs one call at a time, so the embedding pass the input needs
    // must not overlap the session creations below (overlapping calls corrupt its WebAssembly heap).
    const check = selfCheck ? await this.selfCheckInput(inputs) : null;
    const kernelsChanged = attention.kind === 'decomposed' || cacheSplit.layers.length > 0;
    let reference: Float32Array | null = null;
    if (check && (kernelsChanged || selfCheck === 'reference')) {
      onProgress?.({ stage: 'self-check', loaded: 0, total: 2 });
      reference = this.referenceLogits ??= await this.originalLogits(bytes, check.ids, check.context);
      if (!variant) times.reference = lap();
    }
    if (this.dropBytes && !inMemory) {
      // The controlled graph reads its weights from the file: the bytes read here may go before
      // onnxruntime loads them, so the process never holds both.
      this.graphBytes = null;
      bytes = null;
      graph = null;
      // The job that resumed this function after reading still holds the bytes it delivered:
      // resume from a fresh task first, then collect.
      await new Promise((r) => setTimeout(r, 0));
      this.backend.collectGarbage?.();
    }
    cancelled();
    onProgress?.({ stage: 'session', loaded: 0, total: 1 });
    const session = await this.createSession(rewritten, sessionFiles);
    if (!variant) times.session = lap();
    // onnxruntime-web holds the weights now; the file can be read again where later passes need it.
    if (this.dropBytes && inMemory) this.graphBytes = null;
    const state: ControlState = {
      mode,
      layers,
      report: reportFor(graphReport, mode, layers),
      graphReport,
      layerModes: layerModes(graphReport, mode, layers),
      scoring,
      cacheSplit,
      attention,
      session,
      inputs,
      cache,
      selfCheck: null,
      coupling: summarizeCoupling(couplingOps, null),
    };
    try {
      cancelled();
    } catch (e) {
      await session.release();
      throw e;
    }
    if (check) {
      onProgress?.({ stage: 'self-check', loaded: 1, total: 2 });
      try {
        cancelled();
        state.selfCheck = await this.runSelfCheck(state, check.ids, check.context, reference);
        state.coupling = summarizeCoupling(couplingOps, state.selfCheck.coupling);
        cancelled();
      } catch (e) {
        await session.release();
        throw e;
      }
      if (!variant) times.selfCheck = times.reference + lap();
    }
    return state;
  }

  /** The self-check's input: token ids, and the embeddings or encoder output the decoder reads. */
  private async selfCheckInput(inputs: readonly ValueInfo[]): Promise<{ ids: number[]; context: DecoderContext }> {
    const ids = checkTokenIds(Math.min(8, this.config.maxPositions), this.config.vocabSize);
    return { ids, context: await this.selfCheckContext(ids, inputs) };
  }

  /** The unmodified graph's logits on the self-check input, from a session released before this returns. */
  private async originalLogits(bytes: Uint8Array, ids: number[], context: DecoderContext): Promise<Float32Array> {
    const original = await this.createSession(bytes);
    try {
      const inputs = decodeModel(bytes).graph.inputs;
      return await logitsOf(original, buildFeeds(inputs, this.config, this.backend.Tensor, { ids, batch: 1, factors: null, context }));
    } finally {
      await original.release();
    }
  }

  private async createSession(bytes: Uint8Array, external: readonly ExternalFile[] = this.external): Promise<InferenceSession> {
    try {
      return await this.backend.createSession(bytes, external);
    } catch (e) {
      throw new AtmanError('BACKEND_FAILED', `The ${this.backend.name} backend could not create a session for ${this.id}: ${(e as Error).message}`);
    }
  }

  /**
   * All-ones factors must reproduce the unmodified model's logits. Where the rewrite changed
   * kernels, `reference` holds the unmodified graph's logits (computed before this session was
   * created). Elsewhere the rewrite only added the control and the score head, whose `logits`
   * output it leaves as it was, and the reference is this graph with every layer switched off
   * (the in-graph bypass: every added term is exactly 1 or 0 there), so no second session is
   * built. What that compares is the control's identity at phi = 1 on this model's real scores
   * (a non-finite row minimum, for instance, would turn 0*m into NaN); the wire-level rewrite
   * itself is held to the unmodified graphs by the tests, and `selfCheck: 'reference'` runs the
   * unmodified graph for any model.
   */
  private async runSelfCheck(state: ControlState, ids: number[], context: DecoderContext, reference: Float32Array | null): Promise<SelfCheck> {
    const n = ids.length;
    const on = state.layerModes.map((code) => code || (state.mode === 'multiplicative' ? 1 : 2));
    const feeds = (modes: Int32Array) => buildFeeds(state.inputs, this.config, this.backend.Tensor, { ids, batch: 1, factors: new Float32Array(n).fill(1), layerModes: modes, context });
    const controlled = await logitsOf(state.session, feeds(on));
    const base = reference ?? (await logitsOf(state.session, feeds(new Int32Array(on.length))));
    let maxAbsDiff = 0;
    let scale = 1;
    for (let i = 0; i < base.length; i++) {
      const d = Math.abs(base[i]! - controlled[i]!);
      // NaN compares false: count it as a failure
      maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(d) ? Infinity : d);
      scale = Math.max(scale, Math.abs(base[i]!));
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
    // The probe stays on for every model: the static scan (findRowCoupling) names the ops known to
    // couple rows or batch items, but an op outside its list, or one whose attributes decide it, is
    // found only by running; the engine's batching and prefix reuse are exact only if rows and batch
    // items are independent. Its three passes are 8 tokens long, a small part of the load.
    const tp = performance.now();
    const coupling = await probeCoupling({
      session: state.session,
      inputs: state.inputs,
      config: this.config,
      Tensor: this.backend.Tensor,
      ids,
      context,
      cache: state.cache,
      layerModes: on,
      allOnes: controlled,
      // Looser than the identity check: a batch or a shorter pass may sum in another order on a GPU
      // (float rounding, ~1e-7 relative); coupling through an 8-bit scale moves logits by 1e-2 and more.
      tolerance: Math.max(tolerance, 1e-5 * scale),
    });
    this.loadTimes.couplingProbe = (performance.now() - tp) / 1000;
    return { maxAbsDiff, tolerance, positions: n, reference: reference ? 'original' : 'bypass', coupling };
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

/** Where the controlled graph finds the original graph file, whose weights it reads by offset. */
const ORIGINAL_GRAPH_FILE = 'atman-original-graph.onnx';

/** The table's rows as floats in a buffer of their own, so the graph file's bytes can be let go. */
function ownedEmbeddings(t: EmbeddingTable, vocab: number): EmbeddingTable {
  // Only `dim` and `rows` are captured: the table read from the file must not stay reachable.
  const dim = t.dim;
  const rows = new Float32Array(vocab * dim);
  for (let i = 0; i < vocab; i++) rows.set(t.row(i), i * dim);
  return bounded(vocab, dim, (id) => rows.subarray(id * dim, (id + 1) * dim));
}

/** The process's peak resident memory where the runtime reports it (Node), else undefined. */
export function peakRss(): number | undefined {
  const usage = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process?.resourceUsage?.();
  return usage ? usage.maxRSS * 1024 : undefined;
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
