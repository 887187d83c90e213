// Graphs from onnxruntime's transformer optimizer (GPT-2 with the fused contrib Attention) keep
// each layer's key/value cache as one stacked tensor: input `past_N` and output `present_N`,
// [2, batch, heads, length, headDim], keys at index 0 and values at index 1. The engine feeds and
// reuses caches as separate key and value tensors named as optimum and transformers.js name them,
// so this pass gives such a graph the inputs `past_key_values.N.key` / `.value` and the outputs
// `present.N.key` / `.value` ([batch, heads, length, headDim]) with the same numbers: the stacked
// input is rebuilt inside the graph (Unsqueeze + Concat) and the stacked output is split by two
// Gathers. Whatever read `past_N` still reads a tensor of that name, so nothing downstream changes
// (subgraphs that read it from the outer scope included).
import { createNamer, toposort } from './ir/graph-utils';
import { DataType, type Dim, type Model, type ValueInfo, opsetVersion } from './ir/onnx-ir';
import { makeNode, makeTensor, makeValueInfo } from './ir/onnx-build';

const STACKED_PAST = /^past_(\d+)$/;

export interface SplitCacheLayer {
  /** the stacked input that is now computed inside the graph */
  stacked: string;
  key: string;
  value: string;
  /** the stacked output that was split, and its halves; null when the graph returns no present for this layer */
  present: { stacked: string; key: string; value: string } | null;
}

export interface SplitStackedCacheReport {
  pass: 'splitStackedCache';
  layers: SplitCacheLayer[];
}

/** A value shaped [2, batch, heads, length, headDim]. */
const isStacked = (v: ValueInfo): boolean => v.dims?.length === 5 && v.dims[0] === 2;

export function splitStackedCache(model: Model): SplitStackedCacheReport {
  const g = model.graph;
  const stackedInputs = g.inputs.filter((v) => STACKED_PAST.test(v.name) && isStacked(v));
  const report: SplitStackedCacheReport = { pass: 'splitStackedCache', layers: [] };
  if (stackedInputs.length === 0) return report;
  const newName = createNamer(model, 'atman_cache');
  const opset = opsetVersion(model);
  let axis0: string | null = null;
  const unsqueeze0 = (x: string): string => {
    const out = newName(`${x}_unsqueezed`);
    if (opset >= 13) {
      if (!axis0) {
        axis0 = newName('axis_0');
        g.initializers.push(makeTensor(axis0, DataType.INT64, [1], new BigInt64Array([0n])));
      }
      g.nodes.push(makeNode('Unsqueeze', [x, axis0], [out]));
    } else {
      g.nodes.push(makeNode('Unsqueeze', [x], [out], { axes: [0] }));
    }
    return out;
  };
  const indices: string[] = [];
  const index = (i: 0 | 1): string => {
    if (!indices[i]) {
      indices[i] = newName(`index_${i}`);
      // A scalar index drops the stacking axis: [2, B, H, L, D] -> [B, H, L, D].
      g.initializers.push(makeTensor(indices[i], DataType.INT64, [], new BigInt64Array([BigInt(i)])));
    }
    return indices[i];
  };

  for (const past of stackedInputs) {
    const layer = STACKED_PAST.exec(past.name)![1]!;
    const half = past.dims!.slice(1) as Dim[];
    const key = `past_key_values.${layer}.key`;
    const value = `past_key_values.${layer}.value`;
    g.inputs.splice(g.inputs.indexOf(past), 1, makeValueInfo(key, past.elemType, half), makeValueInfo(value, past.elemType, [...half]));
    g.nodes.push(makeNode('Concat', [unsqueeze0(key), unsqueeze0(value)], [past.name], { axis: 0 }));

    const entry: SplitCacheLayer = { stacked: past.name, key, value, present: null };
    const present = g.outputs.find((o) => o.name === `present_${layer}` && isStacked(o));
    if (present) {
      const halves = [`present.${layer}.key`, `present.${layer}.value`] as const;
      halves.forEach((name, i) => g.nodes.push(makeNode('Gather', [present.name, index(i as 0 | 1)], [name], { axis: 0 })));
      const dims = present.dims!.slice(1) as Dim[];
      g.outputs.splice(g.outputs.indexOf(present), 1, ...halves.map((name) => makeValueInfo(name, present.elemType, [...dims])));
      entry.present = { stacked: present.name, key: halves[0], value: halves[1] };
    }
    report.layers.push(entry);
  }
  toposort(g);
  return report;
}
