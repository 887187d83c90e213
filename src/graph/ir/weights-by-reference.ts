// Weights pointed at where they already lie. A rewritten graph normally carries its weights
// inline, so handing it to onnxruntime means one more copy of every weight (the encoded graph)
// on top of the downloaded file and onnxruntime's own. Where the runtime can read a file by path
// (onnxruntime-node), each large inline initializer that is still the original file's bytes is
// turned into an external-data reference to that file (ONNX external data: location, offset,
// length), so the encoded graph holds the graph alone and onnxruntime reads the weights from disk.
import { Writer, readFields } from './wire';
import { type Graph, type Model, subgraphs, tensorPayload } from './onnx-ir';

/** TensorProto fields: raw_data, external_data, data_location. */
const RAW_DATA = 9;
const EXTERNAL_DATA = 13;
const DATA_LOCATION = 14;
const EXTERNAL = 1;

export interface WeightsByReferenceReport {
  /** initializers now read from the file */
  tensors: number;
  bytes: number;
}

/**
 * Points every inline initializer of at least `minBytes` whose bytes are a view into `file` (the
 * graph file as read, the buffer the model was decoded from) at its offset in that file, under
 * `location` (relative to the rewritten graph). Initializers the rewrite added, and any whose
 * bytes were copied, stay inline.
 */
export function referenceWeightsInFile(model: Model, file: Uint8Array, location: string, minBytes = 4096): WeightsByReferenceReport {
  const report: WeightsByReferenceReport = { tensors: 0, bytes: 0 };
  const visit = (g: Graph): void => {
    for (const t of g.initializers) {
      const raw = tensorPayload(t).rawData;
      if (!raw || raw.length < minBytes || raw.buffer !== file.buffer) continue;
      const offset = raw.byteOffset - file.byteOffset;
      if (offset < 0 || offset + raw.length > file.length) continue;
      const w = new Writer();
      for (const f of readFields(t.raw)) if (f.no !== RAW_DATA && f.no !== EXTERNAL_DATA && f.no !== DATA_LOCATION) w.raw(f);
      const entry = (key: string, value: string) => w.message(EXTERNAL_DATA, new Writer().string(1, key).string(2, value));
      entry('location', location);
      entry('offset', String(offset));
      entry('length', String(raw.length));
      w.varint(DATA_LOCATION, EXTERNAL);
      t.raw = w.finish();
      report.tensors++;
      report.bytes += raw.length;
    }
    for (const n of g.nodes) subgraphs(n).forEach(visit);
  };
  visit(model.graph);
  return report;
}
