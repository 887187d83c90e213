// The AtMan control, inserted into every attention layer of a model's graph.
//
// One extra graph input, `atman_factors` float32 [batch, total_sequence_length],
// carries each batch item's per-key-column factor phi for self-attention. In
// the decoder of an encoder-decoder model, cross-attention attends over the
// encoder's positions instead; its layers read a second input,
// `atman_cross_factors` float32 [batch, encoder_sequence_length], added only
// when the graph has cross-attention. Each input is reshaped once at the top of
// the main graph; every controlled layer (in the main graph or in merged-decoder
// If branches, which read it from the outer scope) uses the one of its role:
//  - multiplicative: on the raw q.k scores s (before the mask),
//      s' = phi*s + (1-phi)*m,  m = min over all keys of the row,
//    which is docs/method.md's (s-m)*phi plus the per-row constant m (softmax ignores
//    it) and is bit-exact identity when phi = 1;
//  - log-additive: s' = s + max(log phi, -1e4) on the scores entering Softmax,
//    or through the attention-bias input of fused attention ops.
// Nothing here assumes a causal mask or token inputs: bidirectional encoders
// (a vision transformer's patches) are controlled the same way.
//
// With `switchable`, the mode and the layer subset are runtime inputs of one graph, so changing
// them changes feeds, never the graph or the session: `atman_layer_modes` int32 [layers] holds
// per layer 0 (off), 1 (multiplicative) or 2 (log-additive), and every decomposed site carries
// both controls, each reading a per-layer term picked by a Where:
//   raw scores      s' = s*M + m*N,  M = (code = 1 ? phi : 1),  N = 1 - M
//   softmax input   x' = x + A,      A = (code = 2 ? max(log phi, -1e4) : 0)
// A switched-off term is exactly 1, 0 and 0, and s*1 + m*0 = s, x + 0 = x in IEEE arithmetic
// (m is a row minimum of finite scores), so every site computes bit for bit what the static graph
// of the selected mode computes. The two controls stay at their own points because the modes
// differ there: multiplicative acts before the scaling, soft-capping and mask, log-additive on what
// enters the softmax; no single formula at one point reproduces both exactly. Fused ops kept
// fused take only an additive bias, so a graph with such sites switches between log-additive
// and off only (report.modes).
import { AtmanError } from '../core/errors';
import type { ControlMode } from '../core/types';
import { type AttentionRole } from './attention-role';
import { GraphError, createNamer, describe, inferElemTypes, isFloatType, replaceUses, toposort } from './ir/graph-utils';
import { DataType, type Graph, type Model, type Node, opsetVersion, subgraphs } from './ir/onnx-ir';
import { makeNode, makeTensor, makeValueInfo } from './ir/onnx-build';

import { FUSED_BIAS_INPUT, type RoledSite, type SiteKind, findAttentionSites } from './find-attention';

export type { AttentionRole } from './attention-role';

export const FACTORS_INPUT = 'atman_factors';
/** Factors of the encoder columns that decoder cross-attention reads: float32 [batch, encoder_sequence_length]. */
export const CROSS_FACTORS_INPUT = 'atman_cross_factors';
/** Log-factor floor: finite so fp16 graphs never see -inf (which turns into NaN). */
export const LOG_FACTOR_FLOOR = -1e4;
/** Per-layer control of a switchable graph: int32 [layers], one of the LAYER_* codes per layer. */
export const LAYER_MODES_INPUT = 'atman_layer_modes';
export const LAYER_OFF = 0;
export const LAYER_MULTIPLICATIVE = 1;
export const LAYER_LOG_ADDITIVE = 2;

export interface AttentionControlOptions {
  mode: ControlMode;
  /**
   * layer indices to control; null = all. Indices count the sites of each role separately
   * (per graph, in graph order), so [3] means the self- and the cross-attention of layer 3.
   */
  layers?: readonly number[] | null;
  /** which attention to control; both by default */
  roles?: { self?: boolean; cross?: boolean };
  /**
   * expected number of layers (from config.json); checked when given, per graph: self-attention
   * sites must number that many, and cross-attention sites none or as many (one of each per
   * decoder layer). Models with cross-attention in only some layers are refused rather than
   * explained with layers possibly missed.
   */
  expectedLayers?: number;
  /**
   * mode and layers as runtime inputs (LAYER_MODES_INPUT) instead of built into the graph; `mode`
   * and `layers` then only describe the setting the report is written for (see reportFor).
   */
  switchable?: boolean;
}

export interface ControlledSite {
  /** 'main', or the path of the subgraph: 'main/<If node>/then_branch' */
  graph: string;
  /** index among the sites of the same role in this graph */
  layer: number;
  /** self-attention, or decoder cross-attention over the encoder's positions */
  role: AttentionRole;
  kind: SiteKind;
  /** the node whose scores were controlled (Softmax or the fused op) */
  node: string;
  /** the MatMul producing the raw scores (decomposed, multiplicative) */
  scoresFrom?: string;
  /** cross-attention: the graph input its keys derive from */
  keysFrom?: string;
  controlled: boolean;
}

export interface AttentionControlReport {
  pass: 'insertAttentionControl';
  mode: ControlMode;
  /** the self-attention factors input, null when no self-attention is controlled */
  factorsInput: string | null;
  /** the cross-attention factors input, null when the graph has none or it is not controlled */
  crossFactorsInput: string | null;
  sites: ControlledSite[];
  /** self-attention layers found in each graph that has any */
  layersPerGraph: Record<string, number>;
  /** cross-attention layers found in each graph that has any */
  crossLayersPerGraph: Record<string, number>;
  /** self-attention layers controlled */
  controlledLayers: number[];
  /** cross-attention layers controlled */
  controlledCrossLayers: number[];
  /** switchable graphs: the per-layer mode input, its length, and the modes the graph can switch to */
  switchable?: { input: string; layers: number; modes: ControlMode[] };
}

export function insertAttentionControl(model: Model, opts: AttentionControlOptions): AttentionControlReport {
  const onnxOpset = opsetVersion(model);
  const newName = createNamer(model);
  const sitesByGraph = findAttentionSites(model);
  const allSites = [...sitesByGraph.values()].flat();
  if (allSites.length === 0) {
    throw new AtmanError('NO_ATTENTION', 'No attention layer was found in this model graph (no Softmax over q·k scores and no fused attention op), so AtMan cannot control it.');
  }

  const layersPerGraph: Record<string, number> = {};
  const crossLayersPerGraph: Record<string, number> = {};
  for (const [path, sites] of sitesByGraph) {
    const self = sites.filter((s) => s.role === 'self').length;
    const cross = sites.length - self;
    if (self) layersPerGraph[path] = self;
    if (cross) crossLayersPerGraph[path] = cross;
  }
  if (opts.expectedLayers !== undefined) checkLayerCounts(sitesByGraph, layersPerGraph, crossLayersPerGraph, opts.expectedLayers);

  const enabled: Record<AttentionRole, boolean> = { self: opts.roles?.self ?? true, cross: opts.roles?.cross ?? true };
  const present = (role: AttentionRole) => allSites.some((s) => s.role === role);
  const active = (role: AttentionRole) => enabled[role] && present(role);
  if (!active('self') && !active('cross')) {
    const asked = (['self', 'cross'] as const).filter((r) => enabled[r]);
    throw new AtmanError(
      'BAD_SETTING',
      asked.length
        ? `Control of ${asked.map((r) => `${r}-attention`).join(' and ')} was asked for, but this model graph has none.`
        : 'Neither self-attention nor cross-attention was chosen for control, so there is nothing to explain with.',
    );
  }
  const counts = (['self', 'cross'] as const).filter(active).flatMap((r) => Object.values(r === 'self' ? layersPerGraph : crossLayersPerGraph));
  const maxLayer = Math.max(...counts);
  const wanted = opts.layers ? new Set(opts.layers) : null;
  for (const l of wanted ?? []) {
    if (!Number.isInteger(l) || l < 0 || l >= maxLayer) throw new AtmanError('BAD_SETTING', `Layer ${l} does not exist: this model has layers 0 to ${maxLayer - 1}.`);
  }
  const fusedSite = allSites.find((s) => s.kind !== 'decomposed' && enabled[s.role]);
  if (opts.mode === 'multiplicative') {
    const fused = fusedSite;
    if (fused) {
      throw new AtmanError(
        'FUSED_ATTENTION_MULTIPLICATIVE',
        `This model computes attention in a fused ${fused.kind} node (${describe(fused.node)}), whose raw scores are not reachable, so multiplicative mode cannot be applied. Use log-additive mode for this model.`,
      );
    }
  }

  const main = model.graph;
  let switches: Switches | null = null;
  if (opts.switchable) {
    main.inputs.push(makeValueInfo(LAYER_MODES_INPUT, DataType.INT32, [maxLayer]));
    switches = new Switches(main, newName, LAYER_MODES_INPUT);
  }
  const pre: Partial<Record<AttentionRole, Precomputed>> = {};
  if (active('self')) {
    main.inputs.push(makeValueInfo(FACTORS_INPUT, DataType.FLOAT, ['batch_size', 'total_sequence_length']));
    pre.self = new Precomputed(main, newName, onnxOpset, FACTORS_INPUT, switches);
  }
  if (active('cross')) {
    main.inputs.push(makeValueInfo(CROSS_FACTORS_INPUT, DataType.FLOAT, ['batch_size', 'encoder_sequence_length']));
    pre.cross = new Precomputed(main, newName, onnxOpset, CROSS_FACTORS_INPUT, switches);
  }

  const report: ControlledSite[] = [];
  for (const [path, sites] of sitesByGraph) {
    const graph = sites[0]!.graph;
    const types = inferElemTypes(graph, outerTypes(model, graph));
    const next: Record<AttentionRole, number> = { self: 0, cross: 0 };
    for (const site of sites) {
      const role = site.role;
      const layer = next[role]++;
      const factors = pre[role];
      const controlled = !!factors && (!wanted || wanted.has(layer));
      const entry: ControlledSite = { graph: path, layer, role, kind: site.kind, node: site.node.name || site.node.outputs[0]!, controlled };
      if (site.keysFrom) entry.keysFrom = site.keysFrom;
      if (factors && switches) {
        // Every site is wired; its layer's code decides at run time what it does.
        const terms = factors.at(layer);
        if (site.kind === 'decomposed') {
          entry.scoresFrom = site.scores!.name || site.scores!.outputs[0]!;
          // log-additive first: it reads the softmax input's type before the multiplicative control renames the scores
          controlLogAdditiveSoftmax(graph, site, types, terms, newName);
          controlMultiplicative(graph, site, types, terms, newName, onnxOpset);
        } else {
          controlFusedBias(graph, site, types, terms, newName);
        }
      } else if (factors && controlled) {
        if (site.kind === 'decomposed' && opts.mode === 'multiplicative') {
          entry.scoresFrom = site.scores!.name || site.scores!.outputs[0]!;
          controlMultiplicative(graph, site, types, factors, newName, onnxOpset);
        } else if (site.kind === 'decomposed') {
          controlLogAdditiveSoftmax(graph, site, types, factors, newName);
        } else {
          controlFusedBias(graph, site, types, factors, newName);
        }
      }
      report.push(entry);
    }
  }
  toposort(main);
  const controlledOf = (role: AttentionRole) =>
    [...new Set(report.filter((s) => s.controlled && s.role === role).map((s) => s.layer))].sort((a, b) => a - b);
  return {
    pass: 'insertAttentionControl',
    mode: opts.mode,
    factorsInput: pre.self ? FACTORS_INPUT : null,
    crossFactorsInput: pre.cross ? CROSS_FACTORS_INPUT : null,
    sites: report,
    layersPerGraph,
    crossLayersPerGraph,
    controlledLayers: controlledOf('self'),
    controlledCrossLayers: controlledOf('cross'),
    ...(switches
      ? { switchable: { input: LAYER_MODES_INPUT, layers: maxLayer, modes: fusedSite ? ['log-additive'] : ['multiplicative', 'log-additive'] } }
      : {}),
  };
}

/** The report of a switchable graph for one setting: which sites the mode and layers control. */
export function reportFor(report: AttentionControlReport, mode: ControlMode, layers: readonly number[] | null): AttentionControlReport {
  const wanted = layerSet(report, mode, layers);
  const sites = report.sites.map((s) => ({ ...s, controlled: (s.role === 'self' ? report.factorsInput : report.crossFactorsInput) !== null && (!wanted || wanted.has(s.layer)) }));
  const controlledOf = (role: AttentionRole) => [...new Set(sites.filter((s) => s.controlled && s.role === role).map((s) => s.layer))].sort((a, b) => a - b);
  return { ...report, mode, sites, controlledLayers: controlledOf('self'), controlledCrossLayers: controlledOf('cross') };
}

/** The LAYER_MODES_INPUT feed of a switchable graph for one setting. */
export function layerModes(report: AttentionControlReport, mode: ControlMode, layers: readonly number[] | null): Int32Array {
  const sw = report.switchable;
  if (!sw) throw new GraphError('the graph was not built with switchable control');
  const wanted = layerSet(report, mode, layers);
  const code = mode === 'multiplicative' ? LAYER_MULTIPLICATIVE : LAYER_LOG_ADDITIVE;
  return Int32Array.from({ length: sw.layers }, (_, l) => (!wanted || wanted.has(l) ? code : LAYER_OFF));
}

/** Checks a setting against a switchable graph as insertAttentionControl checks it against a static one. */
function layerSet(report: AttentionControlReport, mode: ControlMode, layers: readonly number[] | null): Set<number> | null {
  const sw = report.switchable;
  const maxLayer = sw?.layers ?? Math.max(...report.sites.map((s) => s.layer + 1));
  for (const l of layers ?? []) {
    if (!Number.isInteger(l) || l < 0 || l >= maxLayer) throw new AtmanError('BAD_SETTING', `Layer ${l} does not exist: this model has layers 0 to ${maxLayer - 1}.`);
  }
  if (sw && !sw.modes.includes(mode)) {
    const fused = report.sites.find((s) => s.kind !== 'decomposed');
    throw new AtmanError(
      'FUSED_ATTENTION_MULTIPLICATIVE',
      `This model computes attention in a fused ${fused?.kind ?? 'attention'} node${fused ? ` (${fused.node})` : ''}, whose raw scores are not reachable, so ${mode} mode cannot be applied. Use log-additive mode for this model.`,
    );
  }
  return layers ? new Set(layers) : null;
}

function checkLayerCounts(
  sitesByGraph: Map<string, RoledSite[]>,
  selfCounts: Record<string, number>,
  crossCounts: Record<string, number>,
  n: number,
): void {
  for (const path of sitesByGraph.keys()) {
    const self = selfCounts[path] ?? 0;
    const cross = crossCounts[path] ?? 0;
    // A decoder layer of an encoder-decoder model holds one self- and one cross-attention.
    if (self === n && (cross === 0 || cross === n)) continue;
    const where = path === 'main' ? 'the model graph' : path;
    const found = cross ? `${self} self-attention and ${cross} cross-attention layers` : `${self} attention layers`;
    throw new AtmanError(
      'LAYER_COUNT_MISMATCH',
      `Found ${found} in ${where} but the model config says ${n}; refusing to explain with some layers uncontrolled.`,
    );
  }
}

function outerTypes(model: Model, target: Graph): Map<string, number> {
  // Types of everything visible from enclosing graphs, so subgraph inference starts informed.
  const acc = new Map<string, number>();
  const walk = (g: Graph, scope: Map<string, number>): boolean => {
    if (g === target) {
      scope.forEach((v, k) => acc.set(k, v));
      return true;
    }
    const types = inferElemTypes(g, scope);
    return g.nodes.some((n) => subgraphs(n).some((sg) => walk(sg, types)));
  };
  walk(model.graph, new Map());
  return acc;
}

/** The terms one controlled site reads, [batch, 1, 1, keys] in the dtype asked for. */
interface FactorTerms {
  phi(dtype: number): string;
  oneMinusPhi(dtype: number): string;
  logPhi(dtype: number): string;
}

/** Per-layer booleans of a switchable graph: is layer l multiplicative, is it log-additive; built once in the main graph. */
class Switches {
  private cache = new Map<string, string>();
  constructor(
    private main: Graph,
    private newName: (hint: string) => string,
    private input: string,
  ) {}
  private scalar(hint: string, value: number): string {
    const name = this.newName(hint);
    this.main.initializers.push(makeTensor(name, DataType.INT32, [], new Int32Array([value])));
    return name;
  }
  /** bool scalar: the layer's code equals `code` */
  is(layer: number, code: number): string {
    const key = `${layer}/${code}`;
    let v = this.cache.get(key);
    if (v) return v;
    let c = this.cache.get(`layer${layer}`);
    if (!c) {
      const idx = this.newName(`layer_${layer}`);
      this.main.initializers.push(makeTensor(idx, DataType.INT64, [], new BigInt64Array([BigInt(layer)])));
      c = this.newName(`layer_${layer}_mode`);
      this.main.nodes.push(makeNode('Gather', [this.input, idx], [c], { axis: 0 }));
      this.cache.set(`layer${layer}`, c);
    }
    v = this.newName(`layer_${layer}_is_${code}`);
    this.main.nodes.push(makeNode('Equal', [c, this.scalar(`mode_${code}`, code)], [v]));
    this.cache.set(key, v);
    return v;
  }
}

/** Factor tensors of one factors input, shaped [batch, 1, 1, keys], built once in the main graph, per dtype. */
class Precomputed implements FactorTerms {
  private cache = new Map<string, string>();
  constructor(
    private main: Graph,
    private newName: (hint: string) => string,
    private opset: number,
    private input: string,
    private switches: Switches | null = null,
  ) {}

  /**
   * The terms of one layer of a switchable graph: phi where the layer is multiplicative and 1
   * elsewhere, 1 minus that, and the floored log phi where it is log-additive and 0 elsewhere.
   * Picked in float32 and cast afterwards, so a switched-on layer reads the very values a static graph does.
   */
  at(layer: number): FactorTerms {
    const sw = this.switches!;
    const pick = (key: string, cond: () => string, yes: () => string, no: number, dtype: number): string => {
      const f32 = this.memo(`${key}@${layer}`, () => {
        const other = this.constant(`${key}_off`, DataType.FLOAT, [], new Float32Array([no]));
        return this.add(makeNode('Where', [cond(), yes(), other], [this.newName(`${key}_layer_${layer}`)]));
      });
      return this.memo(`${key}@${layer}/${dtype}`, () => this.cast(f32, dtype));
    };
    const phi = (dtype: number) => pick('phi', () => sw.is(layer, LAYER_MULTIPLICATIVE), () => this.phi(DataType.FLOAT), 1, dtype);
    return {
      phi,
      oneMinusPhi: (dtype) => {
        const f32 = this.memo(`1-phi@${layer}`, () => {
          const one = this.constant('one', DataType.FLOAT, [], new Float32Array([1]));
          return this.add(makeNode('Sub', [one, phi(DataType.FLOAT)], [this.newName(`one_minus_phi_layer_${layer}`)]));
        });
        return this.memo(`1-phi@${layer}/${dtype}`, () => this.cast(f32, dtype));
      },
      logPhi: (dtype) => pick('logphi', () => sw.is(layer, LAYER_LOG_ADDITIVE), () => this.logPhi(DataType.FLOAT), 0, dtype),
    };
  }

  private memo(key: string, build: () => string): string {
    let v = this.cache.get(key);
    if (!v) this.cache.set(key, (v = build()));
    return v;
  }
  private add(n: Node): string {
    this.main.nodes.push(n);
    return n.outputs[0]!;
  }
  private constant(hint: string, dtype: DataType, dims: number[], data: ArrayBufferView): string {
    const name = this.newName(hint);
    this.main.initializers.push(makeTensor(name, dtype, dims, data));
    return name;
  }
  private unsqueeze4(x: string): string {
    const out = this.newName('unsqueeze');
    if (this.opset >= 13) {
      const axes = this.constant('axes_1_2', DataType.INT64, [2], new BigInt64Array([1n, 2n]));
      return this.add(makeNode('Unsqueeze', [x, axes], [out]));
    }
    return this.add(makeNode('Unsqueeze', [x], [out], { axes: [1, 2] }));
  }
  private cast(x: string, dtype: number): string {
    if (dtype === DataType.FLOAT) return x;
    return this.add(makeNode('Cast', [x], [this.newName(`cast_${dtype}`)], { to: dtype }));
  }

  /** phi as [B,1,1,K] */
  phi(dtype: number): string {
    const f32 = this.memo('phi', () => this.unsqueeze4(this.input));
    return this.memo(`phi/${dtype}`, () => this.cast(f32, dtype));
  }
  /** 1 - phi as [B,1,1,K] */
  oneMinusPhi(dtype: number): string {
    const f32 = this.memo('1-phi', () => {
      const one = this.constant('one', DataType.FLOAT, [], new Float32Array([1]));
      return this.add(makeNode('Sub', [one, this.phi(DataType.FLOAT)], [this.newName('one_minus_phi')]));
    });
    return this.memo(`1-phi/${dtype}`, () => this.cast(f32, dtype));
  }
  /** max(log phi, floor) as [B,1,1,K] */
  logPhi(dtype: number): string {
    const f32 = this.memo('logphi', () => {
      const log = this.add(makeNode('Log', [this.input], [this.newName('log_phi')]));
      const floor = this.constant('log_floor', DataType.FLOAT, [], new Float32Array([LOG_FACTOR_FLOOR]));
      return this.unsqueeze4(this.add(makeNode('Max', [log, floor], [this.newName('log_phi_floored')])));
    });
    return this.memo(`logphi/${dtype}`, () => this.cast(f32, dtype));
  }
}

function scoreType(types: Map<string, number>, name: string, what: string): number {
  const t = types.get(name);
  if (!isFloatType(t)) throw new GraphError(`cannot tell the float type of ${what} "${name}"`);
  return t!;
}

function controlMultiplicative(
  g: Graph,
  site: RoledSite,
  types: Map<string, number>,
  pre: FactorTerms,
  newName: (h: string) => string,
  opset: number,
): void {
  const s = site.scores!.outputs[0]!;
  const dtype = scoreType(types, s, 'attention scores');
  const users = g.nodes.filter((n) => n.inputs.includes(s));
  const min = newName('row_min');
  const nodes: Node[] = [
    opset >= 18
      ? makeNode('ReduceMin', [s, addAxesConst(g, newName)], [min], { keepdims: 1 })
      : makeNode('ReduceMin', [s], [min], { axes: [-1], keepdims: 1 }),
  ];
  const scaled = newName('phi_s');
  const shift = newName('one_minus_phi_m');
  const out = newName('controlled_scores');
  nodes.push(
    makeNode('Mul', [s, pre.phi(dtype)], [scaled]),
    makeNode('Mul', [min, pre.oneMinusPhi(dtype)], [shift]),
    makeNode('Add', [scaled, shift], [out]),
  );
  replaceUses(users, s, out);
  g.nodes.push(...nodes);
  if (g.outputs.some((o) => o.name === s)) throw new GraphError(`attention scores "${s}" are a graph output`);
}

function addAxesConst(g: Graph, newName: (h: string) => string): string {
  const name = newName('axes_last');
  g.initializers.push(makeTensor(name, DataType.INT64, [1], new BigInt64Array([-1n])));
  return name;
}

function controlLogAdditiveSoftmax(g: Graph, site: RoledSite, types: Map<string, number>, pre: FactorTerms, newName: (h: string) => string): void {
  const sm = site.node;
  const x = sm.inputs[0]!;
  const dtype = scoreType(types, x, 'softmax input');
  const out = newName('biased_scores');
  g.nodes.push(makeNode('Add', [x, pre.logPhi(dtype)], [out]));
  sm.inputs[0] = out;
}

function controlFusedBias(
  g: Graph,
  site: RoledSite,
  types: Map<string, number>,
  pre: FactorTerms,
  newName: (h: string) => string,
): void {
  const n = site.node;
  const slot = FUSED_BIAS_INPUT[n.opType]!;
  const query = n.inputs[0]!;
  const dtype = scoreType(types, query, `${n.opType} query`);
  // The fused ops want the bias as [B or 1, N or 1, S, T]; expand the query-length axis explicitly.
  const shape = newName('q_shape');
  const seq = newName('q_len');
  const idx = newName('idx1');
  g.initializers.push(makeTensor(idx, DataType.INT64, [1], new BigInt64Array([1n])));
  const ones = newName('ones_2');
  g.initializers.push(makeTensor(ones, DataType.INT64, [2], new BigInt64Array([1n, 1n])));
  const one = newName('ones_1');
  g.initializers.push(makeTensor(one, DataType.INT64, [1], new BigInt64Array([1n])));
  const target = newName('bias_shape');
  const bias = newName('fused_bias');
  g.nodes.push(
    makeNode('Shape', [query], [shape]),
    makeNode('Gather', [shape, idx], [seq], { axis: 0 }),
    makeNode('Concat', [ones, seq, one], [target], { axis: 0 }),
    makeNode('Expand', [pre.logPhi(dtype), target], [bias]),
  );
  while (n.inputs.length <= slot) n.inputs.push('');
  const existing = n.inputs[slot];
  if (existing) {
    const sum = newName('fused_bias_sum');
    g.nodes.push(makeNode('Add', [existing, bias], [sum]));
    n.inputs[slot] = sum;
  } else {
    n.inputs[slot] = bias;
  }
}
