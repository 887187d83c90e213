// The files a graph needs besides itself: its external-data weight files, and the image encoder or
// embedding graphs a vision-language model runs unmodified beside the controlled decoder.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError } from '../../core/errors';
import { type Model, tensorPayload } from '../../graph/ir/onnx-ir';
import { checkExternalRanges, parseModelFile, validateModel } from '../../graph/ir/check-model';
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
  const { bytes, model: graph, external } = await readGraph(source, file, progress);
  const byLocation = new Map(external.map((f) => [f.path, f.data]));
  try {
    const session = await backend.createSession(bytes, external);
    return { session, table: findTokenEmbedding(graph.graph, (loc) => byLocation.get(loc)) };
  } catch (e) {
    throw new AtmanError('BACKEND_FAILED', `The ${backend.name} backend could not create a session for ${file} of ${source.id}: ${(e as Error).message}`);
  }
}

/**
 * A graph file, parsed and checked (see check-model.ts), with its external weights read and their
 * ranges checked: a damaged file fails here in words, before any rewrite or session sees it.
 */
export async function readGraph(
  source: ModelSource,
  file: string,
  progress: (p: FileProgress) => void,
  /** runs on the checked graph before its external weights are downloaded (a refusal there saves the download) */
  beforeExternal?: (m: Model) => void,
): Promise<{ bytes: Uint8Array; model: Model; external: ExternalFile[] }> {
  const bytes = await source.read(file, progress);
  const model = parseModelFile(bytes, file, source.id);
  const where = `${file} of ${source.id}`;
  const ranges = validateModel(model, where);
  beforeExternal?.(model);
  const external = await readExternalFiles(model, source, file, progress);
  const sizes = new Map(external.map((f) => [f.path, f.data.length]));
  checkExternalRanges(ranges, (loc) => sizes.get(loc), where);
  return { bytes, model, external };
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
