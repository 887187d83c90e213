// What the demo trainers (train.py) write: weights.bin, float32 little-endian, named and placed by
// the manifest's tensor list. Shared by the text and the image demo's export.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function readWeights(build: string, tensors: ReadonlyArray<{ name: string; shape: number[]; offset: number }>): Map<string, Float32Array> {
  const raw = readFileSync(join(build, 'weights.bin'));
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const weights = new Map<string, Float32Array>();
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    weights.set(t.name, all.slice(t.offset / 4, t.offset / 4 + count));
  }
  return weights;
}
