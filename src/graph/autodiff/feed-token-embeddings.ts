// The gradient methods differentiate with respect to the token embeddings (the rows of the embedding
// table, before position embeddings are added) and integrated gradients scales them, so they become
// a graph input: the lookup that turns input_ids into vectors is cut out and its output is fed.
// input_ids stays an input (positions and masks are still computed from it).
import { AtmanError } from '../../core/errors';
import { consumers, describe, inferElemTypes, producers } from '../ir/graph-utils';
import { type Model, type Node, DataType, getAttr, opsetVersion } from '../ir/onnx-ir';
import { makeFloatAttribute, makeNode, makeTensor, makeValueInfo } from '../ir/onnx-build';

export const TOKEN_EMBEDDINGS_INPUT = 'atman_token_embeddings';

export interface FeedTokenEmbeddingsReport {
  pass: 'feedTokenEmbeddings';
  /** the graph input the token embeddings are fed through */
  input: string;
  /** the lookup it replaces ('inputs_embeds' when the graph already takes embeddings) */
  replaced: string;
}

const PASS_THROUGH = ['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Identity', 'Flatten'];

export function feedTokenEmbeddings(model: Model, idsInput = 'input_ids'): FeedTokenEmbeddingsReport {
  const g = model.graph;
  if (g.inputs.some((v) => v.name === 'inputs_embeds')) return { pass: 'feedTokenEmbeddings', input: 'inputs_embeds', replaced: 'inputs_embeds' };
  const prod = producers(g);
  const cons = consumers(g);
  const fromIds = (name: string, depth = 0): boolean => {
    if (name === idsInput) return true;
    const p = prod.get(name);
    return !!p && depth < 5 && PASS_THROUGH.includes(p.opType) && fromIds(p.inputs[0]!, depth + 1);
  };
  const inits = new Set(g.initializers.map((t) => t.name));
  // a table as stored, dequantized, or widened by a Cast (fp16 graphs upcast for gradients)
  const isTable = (name: string): boolean => {
    const p = prod.get(name);
    return inits.has(name) || p?.opType === 'DequantizeLinear' || (p?.opType === 'Cast' && inits.has(p.inputs[0]!));
  };
  const lookup = g.nodes.find(
    (n) => (n.opType === 'Gather' && fromIds(n.inputs[1]!) && isTable(n.inputs[0]!)) ||
      (n.opType === 'GatherBlockQuantized' && fromIds(n.inputs[1]!)),
  );
  if (!lookup) {
    const fused = g.nodes.find((n) => n.opType === 'EmbedLayerNormalization' && fromIds(n.inputs[0]!));
    if (fused) return splitEmbedLayerNorm(model, fused, cons);
    throw new AtmanError('GRADIENT_UNSUPPORTED', 'The token-embedding lookup of this graph was not found, so there are no input vectors to take gradients for.');
  }
  // 8-bit tables dequantize after the lookup: the vectors are the DequantizeLinear's output.
  let node: Node = lookup;
  const after = (cons.get(lookup.outputs[0]!) ?? []);
  if (after.length === 1 && after[0]!.opType === 'DequantizeLinear') node = after[0]!;
  const out = node.outputs[0]!;
  const elemType = inferElemTypes(g).get(out) ?? DataType.FLOAT;
  // The value keeps its name; it is now a graph input instead of the lookup's output.
  g.nodes = g.nodes.filter((n) => n !== node && n !== lookup);
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === out ? TOKEN_EMBEDDINGS_INPUT : i));
  for (const o of g.outputs) if (o.name === out) throw new AtmanError('GRADIENT_UNSUPPORTED', 'The token embeddings are a graph output themselves.');
  g.inputs.push(makeValueInfo(TOKEN_EMBEDDINGS_INPUT, elemType, ['batch_size', 'sequence_length', null]));
  return { pass: 'feedTokenEmbeddings', input: TOKEN_EMBEDDINGS_INPUT, replaced: lookup.name || lookup.opType };
}

/**
 * onnxruntime's EmbedLayerNormalization (inputs: ids, segment ids, word, position and segment
 * tables, gamma, beta, mask, position ids; outputs: the normalized sum, a mask index, the sum)
 * written out as the fed token embeddings plus the looked-up position (and segment) rows, then a
 * LayerNormalization. The mask index has no such form: a graph that reads it is refused.
 */
function splitEmbedLayerNorm(model: Model, n: Node, cons: Map<string, Node[]>): FeedTokenEmbeddingsReport {
  const g = model.graph;
  const [, segIds, , posTable, segTable, gamma, beta, mask, posIds] = n.inputs;
  const [out, maskIndex, sum] = n.outputs;
  if ((maskIndex && cons.get(maskIndex)?.length) || g.outputs.some((o) => o.name === maskIndex)) {
    throw new AtmanError('GRADIENT_UNSUPPORTED', `${describe(n)} gives a mask index that the graph reads, which the gradient graph cannot rebuild.`);
  }
  if (mask) throw new AtmanError('GRADIENT_UNSUPPORTED', `${describe(n)} takes a mask, which the gradient graph cannot rebuild.`);
  if (opsetVersion(model) < 13) throw new AtmanError('GRADIENT_UNSUPPORTED', `${describe(n)} sits in an opset ${opsetVersion(model)} graph that could not be declared at opset 13, which the backward graph needs.`);
  const p = `${out}/split`;
  const nodes: Node[] = [];
  const op = (type: string, inputs: string[], name: string, attrs: Record<string, number> = {}): string => {
    nodes.push(makeNode(type, inputs, [name], attrs, { name: `${name}_node` }));
    return name;
  };
  let positions = posIds;
  if (!positions) {
    // positions 0..S-1 by default, S = the ids' second axis
    const i64 = (name: string, v: number[], dims: number[]) => (g.initializers.push(makeTensor(name, DataType.INT64, dims, BigInt64Array.from(v.map(BigInt)))), name);
    const len = op('Gather', [op('Shape', [n.inputs[0]!], `${p}/ids_shape`), i64(`${p}/one`, [1], [])], `${p}/seq_len`, { axis: 0 });
    positions = op('Range', [i64(`${p}/zero`, [0], []), len, `${p}/one`], `${p}/positions`);
  }
  let total = op('Add', [TOKEN_EMBEDDINGS_INPUT, op('Gather', [posTable!, positions], `${p}/position_rows`, { axis: 0 })], segIds && segTable ? `${p}/partial_sum` : (sum || `${p}/sum`));
  if (segIds && segTable) total = op('Add', [total, op('Gather', [segTable, segIds], `${p}/segment_rows`, { axis: 0 })], sum || `${p}/sum`);
  const eps = getAttr(n, 'epsilon')?.f ?? 1e-12;
  const norm = makeNode('LayerNormalization', [total, gamma!, beta!], [out!], { axis: -1 }, { name: `${p}/layer_norm` });
  norm.attributes.push(makeFloatAttribute('epsilon', eps));
  nodes.push(norm);
  const at = g.nodes.indexOf(n);
  g.nodes.splice(at, 1, ...nodes);
  g.inputs.push(makeValueInfo(TOKEN_EMBEDDINGS_INPUT, DataType.FLOAT, ['batch_size', 'sequence_length', null]));
  return { pass: 'feedTokenEmbeddings', input: TOKEN_EMBEDDINGS_INPUT, replaced: n.name || n.opType };
}
