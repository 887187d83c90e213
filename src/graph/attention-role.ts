// Tells decoder cross-attention (keys computed from an encoder's output) from
// self-attention (keys computed from the model's own sequence) by where the
// keys come from, never by node names: exporters name nodes as they please,
// but the encoder output always arrives as a graph input.
//
// A self-attention layer deep in a decoder also depends on the encoder output,
// through the cross-attention layers before it. Every such path runs through
// an attention's weighted sum of values (probabilities · V, or a fused
// attention node), so the trace does not look through those: what is left is
// the keys' own origin, a projection of the token embeddings or of the
// encoder output (or cached keys carried in as inputs).
import { producers } from './ir/graph-utils';
import { type Graph, type Model, type Node, subgraphs } from './ir/onnx-ir';

export type AttentionRole = 'self' | 'cross';

const SHAPE_ONLY = new Set(['Shape', 'Size']);

/**
 * Inputs that carry an encoder's output, or keys and values already computed from it:
 * `encoder_hidden_states`, `past_key_values.N.encoder.key` (BART/Whisper-style merged
 * decoders), `encoder_outputs`... Masks say which encoder positions exist, not what they hold.
 */
export const isEncoderInput = (name: string): boolean => /encoder/i.test(name) && !/mask/i.test(name);

interface Scope {
  parent: Graph | null;
  producers: Map<string, Node>;
  inputs: Set<string>;
  constants: Set<string>;
}

export class KeyOriginTracer {
  private scopes = new Map<Graph, Scope>();

  /** `barriers`: the nodes whose outputs are attention results, not traced through. */
  constructor(
    model: Model,
    private barriers: ReadonlySet<Node>,
  ) {
    this.index(model.graph, null);
  }

  private index(g: Graph, parent: Graph | null): void {
    const constants = new Set(g.initializers.map((t) => t.name));
    this.scopes.set(g, { parent, producers: producers(g), inputs: new Set(g.inputs.map((v) => v.name)), constants });
    for (const n of g.nodes) for (const sg of subgraphs(n)) this.index(sg, g);
  }

  /**
   * The encoder input that any of `values` (names visible in graph `g`) derives from, or
   * undefined when none does. Follows outer-scope references out of subgraphs and If
   * outputs into their branches.
   */
  encoderSource(g: Graph, values: readonly string[]): string | undefined {
    const seen = new Map<Graph, Set<string>>();
    const stack: Array<[Graph, string]> = values.filter(Boolean).map((v) => [g, v]);
    while (stack.length) {
      const [graph, v] = stack.pop()!;
      let done = seen.get(graph);
      if (!done) seen.set(graph, (done = new Set()));
      if (done.has(v)) continue;
      done.add(v);
      const scope = this.scopes.get(graph)!;
      const p = scope.producers.get(v);
      if (p) {
        // A shape says how big the encoder output is, not what it holds (exporters size self-attention's reshapes and masks from it).
        if (this.barriers.has(p) || SHAPE_ONLY.has(p.opType)) continue;
        const push = (gr: Graph, names: readonly string[]) => names.forEach((x) => x && stack.push([gr, x]));
        const inner = subgraphs(p);
        if (p.opType === 'If') {
          // The condition only picks a branch; the value is the branch's matching output.
          const i = p.outputs.indexOf(v);
          for (const sg of inner) push(sg, [sg.outputs[i]?.name ?? '']);
        } else {
          // Loop/Scan carry values through their inputs and bodies: follow all of them.
          push(graph, p.inputs);
          for (const sg of inner) push(sg, sg.outputs.map((o) => o.name));
        }
        continue;
      }
      // Old exporters list initializers among the inputs too; weights named "encoder.*" are not an encoder output.
      if (scope.constants.has(v)) continue;
      if (scope.inputs.has(v)) {
        if (isEncoderInput(v)) return v;
        continue;
      }
      if (scope.parent) stack.push([scope.parent, v]);
    }
    return undefined;
  }
}
