// The opt-in faster variant of dynamically quantized (q8) graphs: every
// DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scales) chain becomes a float MatMul
// over the dequantized 8-bit weight. The weights keep their 8-bit values; the activations are no
// longer quantized, so each row is computed on its own and batching, prefix reuse and row picking
// before the LM head are exact again — for this variant, which differs from the model as shipped
// by the activation rounding it drops (the engine measures by how much). onnxruntime may fuse the
// DequantizeLinear + MatMul pairs into MatMulNBits, which then quantizes activations per row block
// (accuracy level 4): still within each row, so rows stay independent.
import { consumers, constantNames, producers } from './ir/graph-utils';
import { type Graph, type Model, type Node } from './ir/onnx-ir';
import { makeNode } from './ir/onnx-build';

export interface DequantizeReport {
  pass: 'dequantizeDynamicMatMuls';
  /** MatMulInteger chains and fused DynamicQuantizeMatMul / MatMulIntegerToFloat nodes rewritten */
  rewritten: number;
  /** DynamicQuantizeLinear nodes left (read by something this pass does not rewrite) */
  remaining: number;
}

export function dequantizeDynamicMatMuls(model: Model): DequantizeReport {
  const report: DequantizeReport = { pass: 'dequantizeDynamicMatMuls', rewritten: 0, remaining: 0 };
  rewrite(model.graph, report);
  return report;
}

function rewrite(g: Graph, report: DequantizeReport): void {
  const prod = producers(g);
  const cons = consumers(g);
  const isConst = constantNames(g);
  const drop = new Set<Node>();
  const add = new Map<Node, Node[]>(); // new nodes go where the chain's last node was
  const only = (value: string): Node | undefined => {
    const c = cons.get(value) ?? [];
    return c.length === 1 && !g.outputs.some((o) => o.name === value) ? c[0] : undefined;
  };
  /** DequantizeLinear of a constant 8-bit weight; per-column scales take the last axis */
  const dequantize = (w: string, scale: string, zp: string | undefined, out: string): Node => makeNode('DequantizeLinear', zp ? [w, scale, zp] : [w, scale], [out], { axis: -1 }, { name: `${out}_node` });

  for (const n of g.nodes) {
    const d = n.domain === 'ai.onnx' ? '' : n.domain;
    if (d === '' && n.opType === 'MatMulInteger') {
      const [a, b, aZp, bZp] = n.inputs as [string, string, string?, string?];
      const dq = prod.get(a);
      if (dq?.opType !== 'DynamicQuantizeLinear' || dq.outputs[0] !== a || (aZp && aZp !== dq.outputs[2]) || !isConst.has(b) || (bZp && !isConst.has(bZp))) continue;
      const cast = only(n.outputs[0]!);
      const mul = cast?.opType === 'Cast' ? only(cast.outputs[0]!) : undefined;
      if (!cast || mul?.opType !== 'Mul') continue;
      const scales = mul.inputs.find((i) => i !== cast.outputs[0]);
      const sm = scales ? prod.get(scales) : undefined;
      const bScale = sm?.opType === 'Mul' && sm.inputs.includes(dq.outputs[1]!) ? sm.inputs.find((i) => i !== dq.outputs[1]) : undefined;
      if (!bScale || !isConst.has(bScale)) continue;
      const w = `${n.outputs[0]}_dequantized_weight`;
      add.set(mul, [dequantize(b, bScale, bZp, w), makeNode('MatMul', [dq.inputs[0]!, w], [mul.outputs[0]!], {}, { name: `${n.name || mul.outputs[0]}_dequantized` })]);
      drop.add(n).add(cast).add(mul);
      report.rewritten++;
    } else if (d === 'com.microsoft' && (n.opType === 'DynamicQuantizeMatMul' || n.opType === 'MatMulIntegerToFloat')) {
      // DynamicQuantizeMatMul(A, B, b_scale, b_zp, bias); MatMulIntegerToFloat(A_q, B, a_scale, b_scale, a_zp, b_zp, bias)
      const fused = n.opType === 'DynamicQuantizeMatMul';
      const [a, b] = n.inputs as [string, string];
      const bScale = n.inputs[fused ? 2 : 3];
      const bZp = n.inputs[fused ? 3 : 5] || undefined;
      const bias = n.inputs[fused ? 4 : 6] || undefined;
      const dq = fused ? undefined : prod.get(a);
      const x = fused ? a : dq?.opType === 'DynamicQuantizeLinear' && dq.outputs[0] === a ? dq.inputs[0] : undefined;
      if (!x || !bScale || !isConst.has(b) || !isConst.has(bScale) || (bZp && !isConst.has(bZp))) continue;
      const w = `${n.outputs[0]}_dequantized_weight`;
      const mm = bias ? `${n.outputs[0]}_dequantized_matmul` : n.outputs[0]!;
      const nodes = [dequantize(b, bScale, bZp, w), makeNode('MatMul', [x, w], [mm], {}, { name: `${n.name || n.outputs[0]}_dequantized` })];
      if (bias) nodes.push(makeNode('Add', [mm, bias], [n.outputs[0]!]));
      add.set(n, nodes);
      drop.add(n);
      report.rewritten++;
    }
  }
  g.nodes = g.nodes.flatMap((n) => [...(add.get(n) ?? []), ...(drop.has(n) ? [] : [n])]);
  // Quantizers and scale products nobody reads any more go.
  for (let changed = true; changed; ) {
    changed = false;
    const read = new Set(g.nodes.flatMap((n) => n.inputs).concat(g.outputs.map((o) => o.name)));
    for (const n of g.nodes) for (const sg of n.attributes.flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])])) for (const x of sg.nodes.flatMap((m) => m.inputs)) read.add(x);
    const before = g.nodes.length;
    g.nodes = g.nodes.filter((n) => !['DynamicQuantizeLinear', 'Mul'].includes(n.opType) || n.outputs.some((o) => o && read.has(o)));
    changed = g.nodes.length !== before;
  }
  report.remaining += g.nodes.filter((n) => n.opType === 'DynamicQuantizeLinear').length;
  for (const n of g.nodes) for (const a of n.attributes) for (const sg of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) rewrite(sg, report);
}
