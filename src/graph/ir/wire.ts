// Protocol-buffer wire format, just enough to edit ONNX models losslessly.
// Written by hand rather than with protobufjs because protobufjs drops unknown
// fields and reads int64 as lossy JS numbers without the Long library; here
// every field we do not interpret is kept as its original bytes, and int64
// values are bigints.

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

/** One field exactly as it appeared on the wire. */
export interface RawField {
  no: number;
  wt: WireType;
  /** varint payload (as bigint) for Varint; the bytes for the others. */
  varint?: bigint;
  bytes?: Uint8Array;
}

export class WireError extends Error {
  override name = 'WireError';
}

export function readFields(buf: Uint8Array): RawField[] {
  const out: RawField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new WireError('truncated varint');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new WireError('varint too long');
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wt = (key & 7) as WireType;
    if (no === 0) throw new WireError('field number 0');
    switch (wt) {
      case WireType.Varint:
        out.push({ no, wt, varint: varint() });
        break;
      case WireType.Fixed64:
        if (pos + 8 > buf.length) throw new WireError('truncated fixed64');
        out.push({ no, wt, bytes: buf.subarray(pos, pos + 8) });
        pos += 8;
        break;
      case WireType.Fixed32:
        if (pos + 4 > buf.length) throw new WireError('truncated fixed32');
        out.push({ no, wt, bytes: buf.subarray(pos, pos + 4) });
        pos += 4;
        break;
      case WireType.Bytes: {
        const len = Number(varint());
        if (pos + len > buf.length) throw new WireError('truncated length-delimited field');
        out.push({ no, wt, bytes: buf.subarray(pos, pos + len) });
        pos += len;
        break;
      }
      default:
        throw new WireError(`unsupported wire type ${wt as number}`);
    }
  }
  return out;
}

const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

export const fieldString = (f: RawField): string => utf8.decode(f.bytes!);
export const toSigned64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/** Reads a repeated varint field that may be packed (bytes) or not (one varint). */
export function readPackedVarints(f: RawField): bigint[] {
  if (f.wt === WireType.Varint) return [toSigned64(f.varint!)];
  return readFields(packedAsFields(f.bytes!)).map((x) => toSigned64(x.varint!));
}

// Packed varints have no keys; re-key them as field 1 so readFields can walk them.
function packedAsFields(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const startOfValue = i === 0 || (bytes[i - 1]! & 0x80) === 0;
    if (startOfValue) out.push(0x08);
    out.push(bytes[i]!);
  }
  return Uint8Array.from(out);
}

export function readPackedFloats(f: RawField): number[] {
  const b = f.bytes!;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= b.length; i += 4) out.push(dv.getFloat32(i, true));
  return out;
}

/** Builds a message as a list of chunks; weight bytes are referenced, not copied, until `finish`. */
export class Writer {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  length = 0;

  private flushScratch(): void {
    if (this.scratch.length) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.scratch = [];
    }
  }
  private pushByte(b: number): void {
    this.scratch.push(b);
    this.length++;
  }
  private varintRaw(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.pushByte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.pushByte(Number(x));
  }
  private key(no: number, wt: WireType): void {
    this.varintRaw(BigInt((no << 3) | wt));
  }
  varint(no: number, v: bigint | number): this {
    this.key(no, WireType.Varint);
    this.varintRaw(BigInt(v));
    return this;
  }
  bytes(no: number, b: Uint8Array): this {
    this.key(no, WireType.Bytes);
    this.varintRaw(BigInt(b.length));
    this.flushScratch();
    if (b.length) this.chunks.push(b);
    this.length += b.length;
    return this;
  }
  string(no: number, s: string): this {
    return this.bytes(no, utf8enc.encode(s));
  }
  float(no: number, v: number): this {
    this.key(no, WireType.Fixed32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.pushByte(x);
    return this;
  }
  message(no: number, w: Writer): this {
    this.key(no, WireType.Bytes);
    this.varintRaw(BigInt(w.length));
    this.flushScratch();
    this.chunks.push(...w.parts());
    this.length += w.length;
    return this;
  }
  packedVarints(no: number, values: readonly (bigint | number)[]): this {
    const inner = new Writer();
    for (const v of values) inner.varintRaw(BigInt(v));
    return this.message(no, inner);
  }
  packedFloats(no: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytes(no, b);
  }
  raw(f: RawField): this {
    switch (f.wt) {
      case WireType.Varint:
        return this.varint(f.no, f.varint!);
      case WireType.Bytes:
        return this.bytes(f.no, f.bytes!);
      default:
        this.key(f.no, f.wt);
        for (const x of f.bytes!) this.pushByte(x);
        return this;
    }
  }
  parts(): Uint8Array[] {
    this.flushScratch();
    return this.chunks;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.parts()) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}
