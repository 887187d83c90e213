// The gradient methods differentiate with respect to the token embeddings (the rows of the embedding
// table, before position embeddings are added) and integrated gradients scales them, so they become
// a graph input: the lookup that turns input_ids into vectors is cut out and its output is fed.
// input_ids stays an input (positions and masks are still computed from it).
import { AtmanError } from '../../core/errors';
import { consumers, inferElemTypes, producers } from '../ir/graph-utils';
import { type Model, type Node, DataType } from '../ir/onnx-ir';
import { makeValueInfo } from '../ir/onnx-build';

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
    const fused = g.nodes.find((n) => n.opType === 'EmbedLayerNormalization');
    const why = fused ? ' (it is fused into EmbedLayerNormalization together with the position embeddings and a layer norm)' : '';
    throw new AtmanError('GRADIENT_UNSUPPORTED', `The token-embedding lookup of this graph was not found${why}, so there are no input vectors to take gradients for.`);
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
