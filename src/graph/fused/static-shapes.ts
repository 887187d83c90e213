// Shapes of values the graph does not declare, as far as the rewrite needs
// them: the rank of a fused op's inputs and their hidden size (to split heads).
// Exporters declare graph inputs and outputs but rarely the projections that
// feed attention, so follow a few shape-preserving ops back to declared values.
import { type Dim, type Graph, type Node, attrInt, getAttr, tensorPayload } from '../ir/onnx-ir';

type Shape = Dim[];

const SAME_AS_FIRST = new Set([
  'Cast', 'Relu', 'Sigmoid', 'Tanh', 'Neg', 'Identity', 'Dropout', 'Softmax', 'Erf', 'Sqrt',
  'LayerNormalization', 'SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization',
  'RotaryEmbedding', 'FastGelu', 'Gelu', 'BiasGelu', 'QuickGelu',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Max', 'Min']);

export class StaticShapes {
  private memo = new Map<string, Shape | undefined>();

  constructor(
    private declared: ReadonlyMap<string, Shape>,
    private producers: ReadonlyMap<string, Node>,
    private graph: Graph,
  ) {}

  of(name: string): Shape | undefined {
    if (!name) return undefined;
    const d = this.declared.get(name);
    if (d) return d;
    if (this.memo.has(name)) return this.memo.get(name);
    this.memo.set(name, undefined); // cycles (never in a valid graph) end here
    const s = this.infer(name);
    this.memo.set(name, s);
    return s;
  }

  private infer(name: string): Shape | undefined {
    const n = this.producers.get(name);
    if (!n || n.outputs[0] !== name) return undefined;
    const ins = n.inputs.map((i) => this.of(i));
    if (SAME_AS_FIRST.has(n.opType)) return ins[0];
    if (BROADCAST.has(n.opType)) {
      const known = ins.filter((s): s is Shape => !!s);
      if (!known.length) return undefined;
      const rank = Math.max(...known.map((s) => s.length));
      return Array.from({ length: rank }, (_, i) => {
        const dims = known.map((s) => s[s.length - rank + i]).filter((d) => d !== undefined);
        return dims.find((d) => typeof d === 'number' && d !== 1) ?? dims.find((d) => d !== null && d !== 1) ?? dims[0] ?? null;
      });
    }
    switch (n.opType) {
      case 'MatMul':
      case 'MatMulNBits':
      case 'Gemm': {
        const [a, b] = ins;
        if (!a) return undefined;
        if (n.opType === 'MatMulNBits') return [...a.slice(0, -1), attrInt(n, 'N', 0) || null];
        const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
        const out = b ? (transB ? b[0] : b[b.length - 1]) : null;
        return [...a.slice(0, -1), out ?? null];
      }
      case 'Transpose': {
        const perm = getAttr(n, 'perm')?.ints?.map(Number);
        return ins[0] && perm ? perm.map((p) => ins[0]![p] ?? null) : undefined;
      }
      case 'Reshape': {
        const shape = this.constInts(n.inputs[1]!);
        if (!shape) return undefined;
        return shape.map((v, i) => (v > 0 ? v : v === 0 ? (ins[0]?.[i] ?? null) : null));
      }
      default:
        return undefined;
    }
  }

  private constInts(name: string): number[] | undefined {
    const t = this.graph.initializers.find((x) => x.name === name);
    const c = this.graph.nodes.find((x) => x.opType === 'Constant' && x.outputs[0] === name);
    const tensor = t ?? getAttr(c ?? ({ attributes: [] } as unknown as Node), 'value')?.t;
    if (!tensor) return undefined;
    const p = tensorPayload(tensor);
    if (p.int64Data) return p.int64Data.map(Number);
    if (p.rawData && tensor.dataType === 7) {
      const dv = new DataView(p.rawData.buffer, p.rawData.byteOffset, p.rawData.byteLength);
      return Array.from({ length: p.rawData.byteLength / 8 }, (_, i) => Number(dv.getBigInt64(i * 8, true)));
    }
    return undefined;
  }
}
