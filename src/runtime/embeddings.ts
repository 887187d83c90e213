// Rows of the model's own token-embedding matrix, for conceptual suppression.
import { DataType, type Graph, type Tensor, tensorPayload } from '../graph/onnx-ir';
import { producers } from '../graph/graph-utils';

export interface EmbeddingTable {
  dim: number;
  row(tokenId: number): Float32Array;
}

/** Finds the Gather that turns input_ids into vectors and reads rows from its initializer. */
export function findTokenEmbedding(
  g: Graph,
  readExternal: (location: string) => Uint8Array | undefined,
  idsInput = 'input_ids',
): EmbeddingTable | null {
  const prod = producers(g);
  const comesFromIds = (name: string, depth = 0): boolean => {
    if (name === idsInput) return true;
    const p = prod.get(name);
    if (!p || depth > 4 || !['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Identity', 'Flatten'].includes(p.opType)) return false;
    return comesFromIds(p.inputs[0]!, depth + 1);
  };
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  for (const n of g.nodes) {
    if (n.opType !== 'Gather' || !comesFromIds(n.inputs[1]!)) continue;
    const t = inits.get(n.inputs[0]!);
    if (t && t.dims.length === 2 && (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16)) {
      return tableFrom(t, readExternal);
    }
  }
  return null;
}

function tableFrom(t: Tensor, readExternal: (location: string) => Uint8Array | undefined): EmbeddingTable | null {
  const [, dim] = t.dims as [number, number];
  const p = tensorPayload(t);
  let bytes: Uint8Array | undefined = p.rawData;
  if (p.external) {
    const file = readExternal(p.external.location);
    if (!file) return null;
    const width = t.dataType === DataType.FLOAT ? 4 : 2;
    const length = p.external.length ?? t.dims[0]! * dim * width;
    bytes = file.subarray(p.external.offset, p.external.offset + length);
  }
  if (!bytes && p.floatData) {
    const data = Float32Array.from(p.floatData);
    return { dim, row: (id) => data.slice(id * dim, (id + 1) * dim) };
  }
  if (!bytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fp16 = t.dataType === DataType.FLOAT16;
  return {
    dim,
    row(id) {
      const out = new Float32Array(dim);
      for (let j = 0; j < dim; j++) {
        out[j] = fp16 ? halfToFloat(view.getUint16((id * dim + j) * 2, true)) : view.getFloat32((id * dim + j) * 4, true);
      }
      return out;
    },
  };
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}
