// DequantizeLinear of a constant 8-bit weight, written as (Cast(q) - Cast(zero point)) * scale.
// onnxruntime rewrites a DequantizeLinear weight feeding a MatMul into a quantized product that
// rounds the activations to 8 bits (its QDQ fusions), which is the very rounding the gradient graph
// leaves out; a float expression of constants is folded into a float32 weight at session creation
// instead, and the product stays a float MatMul. Same numbers: DequantizeLinear computes
// (q - zero point) * scale in float32 too.
import { constantNames } from '../ir/graph-utils';
import { DataType, type Model, type Node, attrInt } from '../ir/onnx-ir';
import { makeNode } from '../ir/onnx-build';

export function weightsAsFloatOps(model: Model): number {
  const g = model.graph;
  const isConst = constantNames(g);
  const rank = new Map(g.initializers.map((t) => [t.name, t.dims.length]));
  const size = new Map(g.initializers.map((t) => [t.name, t.dims.reduce((a, b) => a * b, 1)]));
  let rewritten = 0;
  g.nodes = g.nodes.flatMap((n): Node[] => {
    if (n.opType !== 'DequantizeLinear' || (n.domain && n.domain !== 'ai.onnx')) return [n];
    const [q, scale, zp] = n.inputs as [string, string, string?];
    const r = rank.get(q);
    if (r === undefined || !isConst.has(scale) || (zp && !isConst.has(zp)) || n.attributes.some((a) => a.name === 'block_size')) return [n];
    // one scale, or one per element of the last axis (which broadcasting lines up by itself)
    const axis = attrInt(n, 'axis', 1);
    const perTensor = size.get(scale) === 1 && (rank.get(scale) ?? 0) <= 1;
    if (!perTensor && !(rank.get(scale) === 1 && (axis === -1 || axis === r - 1))) return [n];
    const out = n.outputs[0]!;
    const f = (v: string, suffix: string) => makeNode('Cast', [v], [`${out}/${suffix}`], { to: DataType.FLOAT }, { name: `${out}/${suffix}_node` });
    const nodes = [f(q, 'q_float')];
    let centred = `${out}/q_float`;
    if (zp) {
      nodes.push(f(zp, 'zero_point_float'), makeNode('Sub', [centred, `${out}/zero_point_float`], [`${out}/centred`], {}, { name: `${out}/centred_node` }));
      centred = `${out}/centred`;
    }
    nodes.push(makeNode('Mul', [centred, scale], [out], {}, { name: `${out}/scaled_node` }));
    rewritten++;
    return nodes;
  });
  return rewritten;
}
