// The files a graph needs besides itself: its external-data weight files, and the image encoder or
// embedding graphs a vision-language model runs unmodified beside the controlled decoder.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError } from '../../core/errors';
import { type Model, decodeModel, tensorPayload } from '../../graph/ir/onnx-ir';
import type { ExternalFile, OrtBackend } from '../backends/backend';
import { type EmbeddingTable, findTokenEmbedding } from '../model/embeddings';
import type { FileProgress, ModelSource } from '../sources/model-source';

/** An image encoder or embedding graph, run as exported (the control lives in the decoder). */
export async function loadAuxiliary(
  source: ModelSource,
  backend: OrtBackend,
  file: string,
  progress: (p: FileProgress) => void,
): Promise<{ session: InferenceSession; table: EmbeddingTable | null }> {
  const bytes = await source.read(file, progress);
  const graph = decodeModel(bytes);
  const external = await readExternalFiles(graph, source, file, progress);
  const byLocation = new Map(external.map((f) => [f.path, f.data]));
  try {
    const session = await backend.createSession(bytes, external);
    return { session, table: findTokenEmbedding(graph.graph, (loc) => byLocation.get(loc)) };
  } catch (e) {
    throw new AtmanError('BACKEND_FAILED', `The ${backend.name} backend could not create a session for ${file} of ${source.id}: ${(e as Error).message}`);
  }
}

/** Reads every external-data file the graph points to, refusing paths outside its folder. */
export async function readExternalFiles(
  m: Model,
  source: ModelSource,
  onnxFile: string,
  progress: (p: FileProgress) => void,
): Promise<ExternalFile[]> {
  const locations = new Set<string>();
  const visit = (g: Model['graph']): void => {
    for (const t of g.initializers) {
      const ext = tensorPayload(t).external;
      if (ext) locations.add(ext.location);
    }
    for (const n of g.nodes) for (const a of n.attributes) [a.g, ...(a.graphs ?? [])].forEach((sg) => sg && visit(sg));
  };
  visit(m.graph);
  const dir = onnxFile.slice(0, onnxFile.lastIndexOf('/') + 1);
  const files: ExternalFile[] = [];
  for (const loc of locations) {
    if (loc.includes('..') || loc.startsWith('/')) {
      throw new AtmanError('MODEL_UNSUPPORTED', `The graph points to external weights outside its folder (${loc}).`);
    }
    const path = dir + loc;
    if (!(await source.has(path))) throw new AtmanError('MODEL_FILES_MISSING', `${source.id} is missing ${path}, which holds the model's weights.`);
    const data = await source.read(path, progress);
    const diskPath = source.localPath?.(path);
    files.push({ path: loc, data, ...(diskPath ? { diskPath } : {}) });
  }
  return files;
}
