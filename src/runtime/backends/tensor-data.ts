// Numbers out of an onnxruntime tensor as float32, whatever float type the graph computes in.
// onnxruntime hands float16 tensors over as their raw 16-bit patterns (a Uint16Array), or as a
// Float16Array where the JavaScript engine has one; reading those as float32 gives nonsense.
import type { Tensor as OrtTensor } from 'onnxruntime-common';

export async function floatData(t: OrtTensor): Promise<Float32Array> {
  const data = await t.getData();
  if (data instanceof Float32Array) return data;
  if (t.type === 'float16' && data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
  if (t.type === 'float16' || t.type === 'float64') return Float32Array.from(data as ArrayLike<number>);
  throw new TypeError(`expected a float tensor, got ${t.type}`);
}

/** One IEEE 754 half-precision bit pattern as a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}
