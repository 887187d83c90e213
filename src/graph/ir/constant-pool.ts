// Typed constants a pass adds to a graph as initializers, each value made once: the int64 shapes,
// axes and indices, and float scalars in the element type of the values they meet.
import { DataType, type Graph } from './onnx-ir';
import { makeTensor } from './onnx-build';

export class ConstantPool {
  private made = new Map<string, string>();

  constructor(
    private readonly graph: Graph,
    private readonly freshName: () => string,
    /** the error for a float element type the pool cannot write */
    private readonly refuse: (elemType: number) => Error,
  ) {}

  private constant(key: string, make: (name: string) => void): string {
    let name = this.made.get(key);
    if (!name) {
      name = this.freshName();
      make(name);
      this.made.set(key, name);
    }
    return name;
  }

  /** int64 constant: a scalar for a number, 1-D for an array. */
  i64(v: number | number[]): string {
    const arr = typeof v === 'number' ? [v] : v;
    const dims = typeof v === 'number' ? [] : [arr.length];
    return this.constant(`i64:${JSON.stringify(v)}`, (name) =>
      this.graph.initializers.push(makeTensor(name, DataType.INT64, dims, BigInt64Array.from(arr.map((x) => BigInt(x))))),
    );
  }

  /** Float scalar in `dtype` (float32, float16, bfloat16 or double). */
  scalar(dtype: number, value: number): string {
    return this.constant(`f:${dtype}:${value}`, (name) => {
      let data: ArrayBufferView;
      if (dtype === DataType.FLOAT) data = Float32Array.of(value);
      else if (dtype === DataType.DOUBLE) data = Float64Array.of(value);
      else if (dtype === DataType.FLOAT16) data = Uint16Array.of(toHalfBits(value));
      else if (dtype === DataType.BFLOAT16) data = Uint16Array.of(toBfloat16Bits(value));
      else throw this.refuse(dtype);
      this.graph.initializers.push(makeTensor(name, dtype, [], data));
    });
  }
}

/** Round-to-nearest-even float32 -> IEEE half bits, for constants. */
export function toHalfBits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  if (v === Infinity) return 0x7c00;
  if (v === -Infinity) return 0xfc00;
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00; // overflow: infinity
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (exp << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry into the exponent is still right
  return sign | half;
}

/** Round-to-nearest-even float32 -> bfloat16 bits (the upper half of the float32). */
export function toBfloat16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7fc0;
  const x = new Uint32Array(Float32Array.of(v).buffer)[0]!;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
