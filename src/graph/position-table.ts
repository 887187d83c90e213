// How many positions a graph can encode, read from its own position tables: a learned position
// embedding gathered by position_ids (GPT-2's wpe), the position table of onnxruntime's fused
// EmbedLayerNormalization, or the cos/sin caches that rotary attention ops index by position.
// config.json's max_position_embeddings is only a claim; a position past the table fails inside
// a pass (CPU) or reads whatever lies beyond it (GPU). Positions are position_ids, or a Range the
// graph computes them with.
import { type Graph, type Node, type Tensor, subgraphs } from './ir/onnx-ir';

export interface PositionTable {
  /** positions the table holds */
  rows: number;
  /** the initializer that holds them */
  tensor: string;
}

const PASS_THROUGH = new Set(['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Identity', 'Flatten']);

/** The smallest position table the graph (or any subgraph) indexes by position; null when it has none (rotary computed at run time). */
export function findPositionTable(g: Graph, positionInput = 'position_ids'): PositionTable | null {
  const found: PositionTable[] = [];
  visit(g, new Map(), new Map(), positionInput, found);
  return found.reduce<PositionTable | null>((a, b) => (a === null || b.rows < a.rows ? b : a), null);
}

function visit(g: Graph, outerInits: ReadonlyMap<string, Tensor>, outerProducers: ReadonlyMap<string, Node>, positionInput: string, found: PositionTable[]): void {
  const inits = new Map([...outerInits, ...g.initializers.map((t) => [t.name, t] as const)]);
  const prod = new Map(outerProducers);
  for (const n of g.nodes) for (const o of n.outputs) if (o) prod.set(o, n);
  const fromPositions = (name: string, depth = 0): boolean => {
    if (name === positionInput) return true;
    const p = prod.get(name);
    // Exports without a position_ids input count positions with a Range (past length to total length).
    if (p?.opType === 'Range') return true;
    return !!p && depth < 5 && PASS_THROUGH.has(p.opType) && fromPositions(p.inputs[0] ?? '', depth + 1);
  };
  const table = (name: string | undefined): void => {
    const t = name ? inits.get(name) : undefined;
    if (t && t.dims.length === 2 && t.dims[0]! > 0) found.push({ rows: t.dims[0]!, tensor: t.name });
  };
  for (const n of g.nodes) {
    if (n.opType === 'Gather' && !n.domain && fromPositions(n.inputs[1] ?? '')) table(n.inputs[0]);
    // ONNX's own RotaryEmbedding (opset 23) indexes cos_cache (input 1) by position_ids (input 3) when given.
    else if (n.opType === 'RotaryEmbedding' && !n.domain && n.inputs[3]) table(n.inputs[1]);
    else if (n.domain === 'com.microsoft') {
      // EmbedLayerNormalization: input 3 is the position embedding; GroupQueryAttention (7) and
      // RotaryEmbedding (2) take cos_cache [max positions, rotary dim / 2].
      if (n.opType === 'EmbedLayerNormalization') table(n.inputs[3]);
      else if (n.opType === 'GroupQueryAttention') table(n.inputs[7]);
      else if (n.opType === 'RotaryEmbedding') table(n.inputs[2]);
    }
    for (const sg of subgraphs(n)) visit(sg, inits, prod, positionInput, found);
  }
}
