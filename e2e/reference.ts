import * as ort from 'onnxruntime-node';
import { fileURLToPath } from 'node:url';

// The same model and inputs as the worker's runOnnx, run natively in the test process.
export const SMOKE_MODEL_PATH = fileURLToPath(new URL('../public/test-assets/tiny_gpt2.onnx', import.meta.url));

export async function referenceLogits(): Promise<{ head: number[]; last: number[]; dims: number[] }> {
  const session = await ort.InferenceSession.create(SMOKE_MODEL_PATH);
  const seq = 4;
  const i64 = (f: (i: number) => number) =>
    new ort.Tensor('int64', BigInt64Array.from({ length: seq }, (_, i) => BigInt(f(i))), [1, seq]);
  const out = await session.run({ input_ids: i64((i) => i + 1), attention_mask: i64(() => 1), position_ids: i64((i) => i) });
  const t = out[session.outputNames[0]!]!;
  const data = t.data as Float32Array;
  const vocab = t.dims[t.dims.length - 1]!;
  const r = { head: Array.from(data.subarray(0, vocab)), last: Array.from(data.subarray(data.length - vocab)), dims: [...t.dims] };
  await session.release();
  return r;
}

export function maxAbsDiff(a: number[], b: number[]): number {
  if (a.length !== b.length) return Infinity;
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}
