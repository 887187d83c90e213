// Finding attention in an ONNX graph: every Softmax over the last axis that sits between a q·k
// MatMul and the MatMuls that weight the values, and every fused attention node AtMan can control
// (GroupQueryAttention, MultiHeadAttention; the others are refused by name). Whether a site is
// self- or cross-attention is decided from where its keys come from (attention-role.ts).
// insert-attention-control.ts rewrites the sites; expose-attention-probs.ts reads them.
import { AtmanError } from '../core/errors';
import { type AttentionRole, KeyOriginTracer } from './attention-role';
import { constantNames, consumers, describe, producers } from './ir/graph-utils';
import { type Graph, type Model, type Node, attrInt, opsetVersion } from './ir/onnx-ir';

/** A decomposed attention (Softmax) or a fused node, by its op type. */
export type SiteKind = 'decomposed' | 'GroupQueryAttention' | 'MultiHeadAttention';

/** The fused ops' attention_bias input slot: where the log-additive control enters them. */
export const FUSED_BIAS_INPUT: Record<string, number> = { GroupQueryAttention: 10, MultiHeadAttention: 5 };
/** Inputs of the fused ops that hold keys: key then past_key; a packed query/key/value comes as the query. */
export const FUSED_KEY_INPUTS: Record<string, number[]> = { GroupQueryAttention: [1, 3], MultiHeadAttention: [1, 6] };
const UNSUPPORTED_FUSED = new Set(['Attention', 'PackedAttention', 'PackedMultiHeadAttention', 'SparseAttention', 'PagedAttention']);
/** Elementwise ops allowed between the scores MatMul and the Softmax. */
const SCORE_PATH_OPS = new Set(['Cast', 'Div', 'Mul', 'Add', 'Sub', 'Where', 'Tanh', 'Clip', 'Max', 'Min']);
const MAX_SCORE_PATH = 8;

export interface Site {
  graph: Graph;
  path: string;
  node: Node;
  kind: SiteKind;
  scores?: Node;
  /** where the attention result leaves: the probabilities·V MatMuls, or the fused node */
  results: Node[];
}

/** A site whose role is known: self-attention, or cross-attention reading encoder keys. */
export interface RoledSite extends Site {
  role: AttentionRole;
  /** the encoder input the keys come from (cross-attention) */
  keysFrom?: string;
}

/** Every attention site of the model, per (sub)graph path, with its role. */
export function findAttentionSites(model: Model): Map<string, RoledSite[]> {
  const byGraph = collectSites(model.graph, 'main', opsetVersion(model));
  classifyRoles(model, [...byGraph.values()].flat());
  // classifyRoles has given every site its role
  return byGraph as Map<string, RoledSite[]>;
}

/** Cross-attention when the keys come from an encoder input; see attention-role.ts. */
function classifyRoles(model: Model, sites: Site[]): void {
  const tracer = new KeyOriginTracer(model, new Set(sites.flatMap((s) => [s.node, ...s.results])));
  for (const s of sites) {
    let keys: string[];
    if (s.kind === 'decomposed') {
      keys = [s.scores!.inputs[1]!];
    } else {
      keys = FUSED_KEY_INPUTS[s.kind]!.map((i) => s.node.inputs[i] ?? '').filter(Boolean);
      if (!s.node.inputs[1]) keys.push(s.node.inputs[0]!);
    }
    const r = s as RoledSite;
    const from = tracer.encoderSource(s.graph, keys);
    if (from) r.keysFrom = from;
    r.role = from ? 'cross' : 'self';
  }
}

export function collectSites(g: Graph, path: string, opset: number, out = new Map<string, Site[]>()): Map<string, Site[]> {
  const prod = producers(g);
  const cons = consumers(g);
  const isConst = constantNames(g);
  const sites: Site[] = [];
  for (const n of g.nodes) {
    if (n.domain === 'com.microsoft' && n.opType in FUSED_BIAS_INPUT) {
      sites.push({ graph: g, path, node: n, kind: n.opType as Site['kind'], results: [n] });
    } else if (UNSUPPORTED_FUSED.has(n.opType) && (n.domain === 'com.microsoft' || n.opType === 'Attention')) {
      throw new AtmanError('MODEL_UNSUPPORTED', `This model uses a fused ${n.opType} node (${describe(n)}) that AtMan cannot control yet.`);
    } else if (n.opType === 'Softmax' && normalisesLastAxis(n, opset)) {
      const scores = findScoresMatMul(n.inputs[0]!, prod, isConst);
      const results = scores ? valueMatMuls(n, cons) : [];
      if (scores && results.length) sites.push({ graph: g, path, node: n, kind: 'decomposed', scores, results });
    }
    n.attributes.forEach((a) => {
      const graphs = a.g ? [a.g] : (a.graphs ?? []);
      graphs.forEach((sg, i) => collectSites(sg, `${path}/${n.name || n.opType}/${a.name}${a.graphs ? `[${i}]` : ''}`, opset, out));
    });
  }
  if (sites.length) out.set(path, sites);
  return out;
}

/** Attention normalises over keys, the last axis of [batch, heads, queries, keys]; before opset 13 the default axis was 1. */
function normalisesLastAxis(softmax: Node, opset: number): boolean {
  const axis = attrInt(softmax, 'axis', opset >= 13 ? -1 : 1);
  return axis === -1 || axis === 3;
}

/** Walks back from the Softmax input to the q·k MatMul, preferring the shortest path. */
function findScoresMatMul(start: string, prod: Map<string, Node>, isConst: Set<string>): Node | undefined {
  let frontier = [start];
  for (let depth = 0; depth < MAX_SCORE_PATH && frontier.length; depth++) {
    const next: string[] = [];
    for (const name of frontier) {
      const p = prod.get(name);
      if (!p) continue;
      if (p.opType === 'MatMul' && p.inputs.every((i) => !isConst.has(i))) return p;
      if (!SCORE_PATH_OPS.has(p.opType)) continue;
      const candidates = p.opType === 'Where' ? p.inputs.slice(1) : p.inputs;
      next.push(...candidates.filter((i) => i && !isConst.has(i)));
    }
    frontier = next;
  }
  return undefined;
}

/** Attention probabilities go on to weight the values (these MatMuls); a router softmax does not. */
function valueMatMuls(softmax: Node, cons: Map<string, Node[]>): Node[] {
  const found: Node[] = [];
  let frontier = [softmax.outputs[0]!];
  for (let depth = 0; depth < 4 && frontier.length; depth++) {
    const next: string[] = [];
    for (const name of frontier) {
      for (const c of cons.get(name) ?? []) {
        if (c.opType === 'MatMul') found.push(c);
        if (['Cast', 'Dropout', 'Identity', 'Where', 'Mul'].includes(c.opType)) next.push(c.outputs[0]!);
      }
    }
    frontier = next;
  }
  return found;
}
