// The backward graph needs opset 13 (ReduceSum with its axes as an input undoes broadcasting on
// dynamic shapes). A graph declared at an older opset is declared at 13 instead when every standard
// op it holds means the same there: the ops below did not change between opsets 11 and 13 for any
// input they accept (Softmax did for axes other than the last, so only that form passes). Anything
// else keeps the graph as it is, and the autodiff pass refuses it by name.
import { type Model, attrInt, opsetVersion, subgraphs } from '../ir/onnx-ir';

const UNCHANGED = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Neg', 'Exp', 'Log', 'Tanh', 'Erf', 'Sigmoid', 'Relu', 'Abs', 'Reciprocal',
  'MatMul', 'Gemm', 'Cast', 'Identity', 'Constant', 'Shape', 'Gather', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Where',
  'Equal', 'Less', 'Greater', 'Not', 'And', 'Or', 'Range', 'Expand', 'ConstantOfShape',
]);

export const GRADIENT_OPSET = 13;

/** Returns the opset the graph was raised from, or null when it was not raised. */
export function raiseOpsetForGradients(model: Model): number | null {
  const from = opsetVersion(model);
  if (from === 0 || from >= GRADIENT_OPSET) return null;
  const same = (g: Model['graph']): boolean =>
    g.nodes.every((n) => {
      if (n.domain && n.domain !== 'ai.onnx') return subgraphs(n).every(same);
      if (n.opType === 'Softmax' || n.opType === 'LogSoftmax') return attrInt(n, 'axis', 1) === -1;
      return UNCHANGED.has(n.opType) && subgraphs(n).every(same);
    });
  if (!same(model.graph)) return null;
  for (const o of model.opsets) if (o.domain === '' || o.domain === 'ai.onnx') o.version = GRADIENT_OPSET;
  return from;
}
