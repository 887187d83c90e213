// Makes the attention probabilities of each attention layer extra graph outputs, for the
// attention-based methods AtMan is compared with (raw attention, attention rollout).
//
// The probabilities are the output of each attention site's Softmax, [batch, heads, queries, keys],
// cast to float32 where the graph computes in another type. Sites are found exactly as the AtMan
// control finds them. Sites inside the two branches of an If in the main graph (merged decoders)
// are exposed through new outputs of both branches and of the If node.
import { AtmanError } from '../core/errors';
import { createNamer, describe } from './ir/graph-utils';
import { type Site, collectSites } from './find-attention';
import { DataType, type Graph, type Model, type Node, opsetVersion } from './ir/onnx-ir';
import { makeNode, makeValueInfo } from './ir/onnx-build';

export const ATTENTION_OUTPUT_PREFIX = 'atman_attn.';
export const attentionOutputName = (layer: number): string => `${ATTENTION_OUTPUT_PREFIX}${layer}`;

export interface ExposeAttentionOptions {
  /** layer indices to expose (topological order); null = all */
  layers?: readonly number[] | null;
  /** expected number of attention layers (from config.json); checked when given */
  expectedLayers?: number;
}

export interface ExposedAttention {
  layer: number;
  /** the main-graph output holding this layer's probabilities, float32 [batch, heads, queries, keys] */
  output: string;
  /** the Softmax node(s) it comes from: one, or one per If branch */
  nodes: string[];
}

export interface ExposeAttentionReport {
  pass: 'exposeAttentionProbs';
  layerCount: number;
  outputs: ExposedAttention[];
}

export function exposeAttentionProbs(model: Model, opts: ExposeAttentionOptions = {}): ExposeAttentionReport {
  const byGraph = collectSites(model.graph, 'main', opsetVersion(model));
  const all = [...byGraph.values()].flat();
  if (all.length === 0) {
    throw new AtmanError('NO_ATTENTION', 'No attention layer was found in this model graph (no Softmax over q·k scores), so there are no attention probabilities to read.');
  }
  const fused = all.find((s) => s.kind !== 'decomposed');
  if (fused) {
    throw new AtmanError(
      'FUSED_ATTENTION_NO_PROBS',
      `This model computes attention in a fused ${fused.kind} node (${describe(fused.node)}), which never produces the attention probabilities, so raw attention and attention rollout cannot be read from it. AtMan and occlusion still work on this model.`,
    );
  }
  const counts = [...byGraph.values()].map((s) => s.length);
  const layerCount = counts[0]!;
  if (counts.some((n) => n !== layerCount)) {
    throw new AtmanError('MODEL_UNSUPPORTED', `The graph's branches hold different numbers of attention layers (${counts.join(', ')}), so its layers cannot be matched up.`);
  }
  if (opts.expectedLayers !== undefined && layerCount !== opts.expectedLayers) {
    throw new AtmanError('LAYER_COUNT_MISMATCH', `Found ${layerCount} attention layers in the model graph but the model config says ${opts.expectedLayers}.`);
  }
  const layers = opts.layers ?? Array.from({ length: layerCount }, (_, l) => l);
  for (const l of layers) {
    if (!(Number.isInteger(l) && l >= 0 && l < layerCount)) throw new AtmanError('BAD_SETTING', `Layer ${l} does not exist: this model has layers 0 to ${layerCount - 1}.`);
  }

  const newName = createNamer(model);
  const main = model.graph;
  const outputs: ExposedAttention[] = [];
  const mainSites = byGraph.get('main');
  if (mainSites && byGraph.size === 1) {
    for (const l of layers) {
      const site = mainSites[l]!;
      exposeAs(main, site, attentionOutputName(l), newName);
      outputs.push({ layer: l, output: attentionOutputName(l), nodes: [nodeName(site.node)] });
    }
  } else {
    // Merged decoders: every site lives in a branch of an If node of the main graph.
    const ifs = main.nodes.filter((n) => n.opType === 'If');
    const owner = (g: Graph): Node | undefined => ifs.find((n) => n.attributes.some((a) => a.g === g));
    const branchesOf = new Map<Node, Site[][]>();
    for (const sites of byGraph.values()) {
      const n = owner(sites[0]!.graph);
      if (!n) {
        throw new AtmanError('MODEL_UNSUPPORTED', `Attention layers in ${sites[0]!.path} are nested where their probabilities cannot be brought out; only the main graph and the branches of a top-level If are supported.`);
      }
      branchesOf.set(n, [...(branchesOf.get(n) ?? []), sites]);
    }
    for (const [ifNode, branches] of branchesOf) {
      const graphs = ifNode.attributes.filter((a) => a.g).map((a) => a.g!);
      if (branches.length !== graphs.length) {
        throw new AtmanError('MODEL_UNSUPPORTED', `Only one branch of ${describe(ifNode)} holds attention layers, so their probabilities cannot be output from both.`);
      }
    }
    if (branchesOf.size !== 1) {
      throw new AtmanError('MODEL_UNSUPPORTED', 'Attention layers are spread over several If nodes; their layers cannot be matched up.');
    }
    const [ifNode, branches] = [...branchesOf][0]!;
    // Each branch's outputs line up with the If node's by position, so both get one more per layer.
    for (const l of layers) {
      const out = attentionOutputName(l);
      branches.forEach((sites) => exposeAs(sites[0]!.graph, sites[l]!, newName(`attn_probs_${l}`), newName));
      ifNode.outputs.push(out);
      main.outputs.push(makeValueInfo(out, DataType.FLOAT, probsDims()));
      outputs.push({ layer: l, output: out, nodes: branches.map((sites) => nodeName(sites[l]!.node)) });
    }
  }
  return { pass: 'exposeAttentionProbs', layerCount, outputs };
}

const nodeName = (n: Node): string => n.name || n.outputs[0]!;
const probsDims = () => ['batch_size', 'atman_heads', 'sequence_length', 'total_sequence_length'];

/** Adds graph output `name` = the site's Softmax output as float32 (a Cast also gives the output a node of its own name). */
function exposeAs(g: Graph, site: Site, name: string, newName: (h: string) => string): void {
  g.nodes.push(makeNode('Cast', [site.node.outputs[0]!], [name], { to: DataType.FLOAT }, { name: newName('expose_attn') }));
  g.outputs.push(makeValueInfo(name, DataType.FLOAT, probsDims()));
}
