// Checks a gradient graph against central finite differences: builds a one-node ONNX model, appends
// its backward graph with appendGradients, runs both in onnxruntime-node and compares
// d(sum(seed * y))/dx with (f(x + h) - f(x - h)) / 2h element by element.
import * as ort from 'onnxruntime-node';
import { appendGradients, gradientOutputName, GRAD_SEED_INPUT } from '../graph/autodiff/append-gradients';
import { DataType, type Model, type Node, encodeModel } from '../graph/ir/onnx-ir';
import { emptyGraph, makeTensor, makeValueInfo } from '../graph/ir/onnx-build';

export interface FdInput {
  name: string;
  dims: number[];
  /** values; random in [lo, hi) when absent */
  data?: number[];
  range?: [number, number];
  /** integer inputs (indices, shapes) are int64 and never differentiated */
  int?: boolean;
  /** a constant (initializer), not a graph input */
  constant?: boolean;
  /** differentiate with respect to this input (float inputs that are not constants, by default) */
  wrt?: boolean;
  /** bool condition input */
  bool?: boolean;
  /** uint8 bytes (packed quantized weights) */
  u8?: boolean;
}

export interface FdCase {
  nodes: Node[];
  inputs: FdInput[];
  output: string;
  dtype?: 'float64' | 'float32';
  opset?: number;
  msOpset?: boolean;
  /** extra intermediate values to differentiate with respect to */
  wrtValues?: string[];
}

export interface FdResult {
  maxAbsErr: number;
  maxRelErr: number;
  scale: number;
  compared: number;
}

/** Deterministic pseudo-random numbers (a linear congruential generator), so failures reproduce. */
export function rng(seed = 1): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const size = (d: number[]) => d.reduce((a, b) => a * b, 1);

export async function finiteDifferenceCheck(c: FdCase, seed = 7): Promise<FdResult> {
  const rand = rng(seed);
  const f64 = (c.dtype ?? 'float64') === 'float64';
  const ft = f64 ? DataType.DOUBLE : DataType.FLOAT;
  const Arr = f64 ? Float64Array : Float32Array;
  const values = new Map<string, number[]>();
  for (const i of c.inputs) {
    const [lo, hi] = i.range ?? [-1, 1];
    values.set(i.name, i.data ?? Array.from({ length: size(i.dims) }, () => (i.int ? Math.floor(lo + rand() * (hi - lo)) : lo + rand() * (hi - lo))));
  }
  const build = (): Model => {
    const g = emptyGraph('fd');
    g.nodes = c.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: [...n.attributes] }));
    for (const i of c.inputs) {
      const type = i.u8 ? DataType.UINT8 : i.int ? DataType.INT64 : i.bool ? DataType.BOOL : ft;
      if (i.constant) {
        const v = values.get(i.name)!;
        const data = i.u8 ? Uint8Array.from(v) : i.int ? BigInt64Array.from(v.map(BigInt)) : i.bool ? Uint8Array.from(v) : Arr.from(v);
        g.initializers.push(makeTensor(i.name, type, i.dims, data));
      } else g.inputs.push(makeValueInfo(i.name, type, i.dims));
    }
    g.outputs.push(makeValueInfo(c.output, ft, null));
    const opsets = [{ domain: '', version: c.opset ?? 17 }];
    if (c.msOpset) opsets.push({ domain: 'com.microsoft', version: 1 });
    return { irVersion: 8n, opsets, graph: g, rest: [] };
  };
  const wrt = [...c.inputs.filter((i) => !i.int && !i.bool && !i.constant && i.wrt !== false).map((i) => i.name), ...(c.wrtValues ?? [])];
  const fwd = build();
  const bwd = build();
  appendGradients(bwd, { output: c.output, wrt });
  const fSession = await ort.InferenceSession.create(encodeModel(fwd));
  const bSession = await ort.InferenceSession.create(encodeModel(bwd));
  const feedsOf = (override?: Map<string, number[]>) => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of c.inputs) {
      if (i.constant) continue;
      const v = override?.get(i.name) ?? values.get(i.name)!;
      feeds[i.name] = i.int ? new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), i.dims) : i.bool ? new ort.Tensor('bool', Uint8Array.from(v), i.dims) : new ort.Tensor(f64 ? 'float64' : 'float32', Arr.from(v), i.dims);
    }
    return feeds;
  };
  const y0 = (await fSession.run(feedsOf()))[c.output]!;
  const seedVals = Array.from({ length: y0.size }, () => rand() * 2 - 1);
  const seedT = new ort.Tensor(f64 ? 'float64' : 'float32', Arr.from(seedVals), y0.dims);
  const bOut = await bSession.run({ ...feedsOf(), [GRAD_SEED_INPUT]: seedT });
  const objective = async (override: Map<string, number[]>) => {
    const y = (await fSession.run(feedsOf(override)))[c.output]!.data as Float64Array | Float32Array;
    let s = 0;
    for (let k = 0; k < y.length; k++) s += seedVals[k]! * y[k]!;
    return s;
  };
  const h = f64 ? 1e-6 : 1e-2;
  let maxAbsErr = 0;
  let scale = 0;
  let compared = 0;
  for (const x of wrt.filter((n) => values.has(n))) {
    const grad = bOut[gradientOutputName(x)]!.data as Float64Array | Float32Array;
    const base = values.get(x)!;
    if (grad.length !== base.length) throw new Error(`gradient of ${x} has ${grad.length} elements, the input ${base.length}`);
    for (let k = 0; k < base.length; k++) {
      const plus = [...base];
      const minus = [...base];
      plus[k]! += h;
      minus[k]! -= h;
      const fd = ((await objective(new Map([[x, plus]]))) - (await objective(new Map([[x, minus]])))) / (2 * h);
      maxAbsErr = Math.max(maxAbsErr, Math.abs(fd - grad[k]!));
      scale = Math.max(scale, Math.abs(fd));
      compared++;
    }
  }
  await fSession.release();
  await bSession.release();
  return { maxAbsErr, maxRelErr: maxAbsErr / Math.max(scale, 1e-12), scale, compared };
}
