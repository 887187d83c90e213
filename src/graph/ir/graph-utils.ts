// Queries and whole-graph fixups shared by graph passes.
import { DataType, type Graph, type Model, type Node, attrInt, getAttr, subgraphs } from './onnx-ir';

export class GraphError extends Error {
  override name = 'GraphError';
}

/** Every value name used anywhere in the model, so passes can mint fresh ones. */
export function createNamer(model: Model, prefix = 'atman'): (hint: string) => string {
  const used = new Set<string>();
  const visit = (g: Graph): void => {
    for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) used.add(v.name);
    for (const t of g.initializers) used.add(t.name);
    for (const n of g.nodes) {
      for (const x of [...n.inputs, ...n.outputs, n.name]) used.add(x);
      subgraphs(n).forEach(visit);
    }
  };
  visit(model.graph);
  return (hint) => {
    let name = `${prefix}/${hint}`;
    for (let i = 1; used.has(name); i++) name = `${prefix}/${hint}_${i}`;
    used.add(name);
    return name;
  };
}

export function producers(g: Graph): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

export function consumers(g: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const i of [...n.inputs, ...outerReferences(n)]) {
      if (!i) continue;
      let list = m.get(i);
      if (!list) m.set(i, (list = []));
      if (!list.includes(n)) list.push(n);
    }
  }
  return m;
}

/** Names a node's subgraphs read from the enclosing scopes. */
export function outerReferences(n: Node): string[] {
  const refs = new Set<string>();
  for (const g of subgraphs(n)) for (const r of graphFreeNames(g)) refs.add(r);
  return [...refs];
}

/** Names a graph uses but does not define itself (it reads them from outer scopes). */
export function graphFreeNames(g: Graph): Set<string> {
  const defined = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name)]);
  for (const n of g.nodes) for (const o of n.outputs) defined.add(o);
  const free = new Set<string>();
  for (const n of g.nodes) {
    for (const i of [...n.inputs, ...outerReferences(n)]) if (i && !defined.has(i)) free.add(i);
  }
  return free;
}

/** Stable topological sort (Kahn's algorithm, original order among ready nodes). */
export function toposort(g: Graph, outerScope: ReadonlySet<string> = new Set()): void {
  const available = new Set<string>([...outerScope, ...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name), '']);
  const pending = g.nodes.map((node, index) => ({ node, index, needs: [...node.inputs, ...outerReferences(node)] }));
  const sorted: Node[] = [];
  let remaining = pending;
  while (remaining.length) {
    const next: typeof pending = [];
    let progressed = false;
    for (const p of remaining) {
      if (p.needs.every((x) => available.has(x))) {
        sorted.push(p.node);
        for (const o of p.node.outputs) available.add(o);
        progressed = true;
      } else next.push(p);
    }
    if (!progressed) {
      const missing = next[0]!.needs.filter((x) => !available.has(x));
      throw new GraphError(`graph "${g.name}" has a cycle or undefined input: node ${describe(next[0]!.node)} needs ${missing.join(', ')}`);
    }
    remaining = next;
  }
  g.nodes = sorted;
  for (const n of g.nodes) {
    const scope = new Set([...available]);
    for (const sg of subgraphs(n)) toposort(sg, scope);
  }
}

export const describe = (n: Node): string => `${n.opType}${n.name ? ` "${n.name}"` : ''}`;

/** Values fixed at export time: initializers and Constant outputs. */
export function constantNames(g: Graph): Set<string> {
  const s = new Set(g.initializers.map((t) => t.name));
  for (const n of g.nodes) if (n.opType === 'Constant') s.add(n.outputs[0]!);
  return s;
}

const BOOL_OPS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'TopK_indices']);

/**
 * Element types of every value, by propagation from inputs, initializers and
 * value_info. Enough to know which float type attention scores use; not a full
 * ONNX type inference.
 */
export function inferElemTypes(g: Graph, outer: ReadonlyMap<string, number> = new Map()): Map<string, number> {
  const t = new Map<string, number>(outer);
  for (const v of [...g.inputs, ...g.valueInfo, ...g.outputs]) if (v.elemType) t.set(v.name, v.elemType);
  for (const i of g.initializers) t.set(i.name, i.dataType);
  for (const n of g.nodes) {
    const firstKnown = (): number | undefined => n.inputs.map((i) => t.get(i)).find((x) => x !== undefined);
    let type: number | undefined;
    switch (n.opType) {
      case 'Cast':
        type = attrInt(n, 'to', DataType.FLOAT);
        break;
      case 'CastLike':
        type = t.get(n.inputs[1]!);
        break;
      case 'Constant':
        type = getAttr(n, 'value')?.t?.dataType ?? (getAttr(n, 'value_int') || getAttr(n, 'value_ints') ? DataType.INT64 : DataType.FLOAT);
        break;
      case 'ConstantOfShape':
        type = getAttr(n, 'value')?.t?.dataType ?? DataType.FLOAT;
        break;
      case 'Where':
        type = t.get(n.inputs[1]!) ?? t.get(n.inputs[2]!);
        break;
      case 'MatMulNBits':
      case 'GatherBlockQuantized':
        type = t.get(n.inputs[2]!);
        break;
      case 'DequantizeLinear':
        type = t.get(n.inputs[1]!);
        break;
      case 'MatMulInteger':
      case 'ConvInteger':
        type = DataType.INT32;
        break;
      case 'DynamicQuantizeLinear':
        t.set(n.outputs[0]!, DataType.UINT8);
        t.set(n.outputs[1] ?? '', DataType.FLOAT);
        t.set(n.outputs[2] ?? '', DataType.UINT8);
        continue;
      default:
        if (BOOL_OPS.has(n.opType)) type = DataType.BOOL;
        else if (INT64_OPS.has(n.opType)) type = DataType.INT64;
        else type = firstKnown();
    }
    if (type !== undefined) for (const o of n.outputs) if (o && !t.has(o)) t.set(o, type);
  }
  return t;
}

export const isFloatType = (t: number | undefined): boolean =>
  t === DataType.FLOAT || t === DataType.FLOAT16 || t === DataType.BFLOAT16 || t === DataType.DOUBLE;

/** Renames every use of `from` to `to` in the given nodes and in subgraphs that read it from outside. */
export function replaceUses(nodes: Node[], from: string, to: string): void {
  for (const n of nodes) {
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
    for (const sg of subgraphs(n)) if (graphFreeNames(sg).has(from)) replaceUses(sg.nodes, from, to);
  }
}
