// The files a graph needs besides itself: its external-data weight files, and the image encoder or
// embedding graphs a vision-language model runs unmodified beside the controlled decoder.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError } from '../../core/errors';
import { type Model, tensorPayload } from '../../graph/ir/onnx-ir';
import { checkExternalRanges, parseModelFile, validateModel } from '../../graph/ir/check-model';
import type { ExternalFile, OrtBackend } from '../backends/backend';
import { type EmbeddingTable, findTokenEmbedding, readFromFiles } from '../model/embeddings';
import type { FileProgress, ModelSource } from '../sources/model-source';

/** An image encoder or embedding graph, run as exported (the control lives in the decoder). */
export async function loadAuxiliary(
  source: ModelSource,
  backend: OrtBackend,
  file: string,
  progress: (p: FileProgress) => void,
): Promise<{ session: InferenceSession; table: EmbeddingTable | null }> {
  const byPath = backend.readsFilesByPath === true;
  const { bytes, model: graph, external } = await readGraph(source, file, progress, undefined, byPath);
  const { table } = await embeddingTable(graph, external, source, file);
  try {
    const session = await backend.createSession(bytes, external);
    return { session, table };
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
  /** the backend reads weight files by path: those on disk are not read here (see readExternalFiles) */
  byPath = false,
): Promise<{ bytes: Uint8Array; model: Model; external: ExternalFile[] }> {
  const bytes = await source.read(file, progress);
  const model = parseModelFile(bytes, file, source.id);
  const where = `${file} of ${source.id}`;
  const ranges = validateModel(model, where);
  beforeExternal?.(model);
  const external = await readExternalFiles(model, source, file, progress, byPath);
  const sizes = new Map(external.map((f) => [f.path, f.size]));
  checkExternalRanges(ranges, (loc) => sizes.get(loc), where);
  return { bytes, model, external };
}

/**
 * Every external-data file the graph points to, refusing paths outside its folder. Where the
 * backend reads weights by path (onnxruntime-node) and the file lies on disk, it is not read: the
 * session loads it from there, so the process never holds a second copy of the weights.
 */
export async function readExternalFiles(
  m: Model,
  source: ModelSource,
  onnxFile: string,
  progress: (p: FileProgress) => void,
  byPath = false,
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
    const diskPath = source.localPath?.(path);
    if (byPath && diskPath && source.sizeOf && source.readRange) {
      files.push({ path: loc, data: new Uint8Array(0), size: await source.sizeOf(path), diskPath });
      continue;
    }
    const data = await source.read(path, progress);
    files.push({ path: loc, data, size: data.length, ...(diskPath ? { diskPath } : {}) });
  }
  return files;
}

/**
 * The graph's token-embedding table. Weight files left on disk hold no bytes here, so the ranges
 * the table reads are found first (they depend on the graph alone: a dry run over zeros), and only
 * those ranges are read, never the whole file.
 */
export async function embeddingTable(
  m: Model,
  external: readonly ExternalFile[],
  source: ModelSource,
  onnxFile: string,
): Promise<{ table: EmbeddingTable | null; /** its bytes were read for it alone (not views into files read whole) */ ownBytes: boolean }> {
  const inMemory = readFromFiles(new Map(external.filter((f) => !isByPath(f)).map((f) => [f.path, f.data])));
  const onDisk = new Set(external.filter(isByPath).map((f) => f.path));
  if (onDisk.size === 0) return { table: findTokenEmbedding(m.graph, inMemory), ownBytes: false };
  const wanted: Array<{ location: string; offset: number; length: number }> = [];
  findTokenEmbedding(m.graph, (location, offset, length) => {
    if (!onDisk.has(location)) return inMemory(location, offset, length);
    wanted.push({ location, offset, length });
    return new Uint8Array(length);
  });
  const dir = onnxFile.slice(0, onnxFile.lastIndexOf('/') + 1);
  const read = new Map<string, Uint8Array>();
  const key = (location: string, offset: number, length: number): string => `${location}\0${offset}\0${length}`;
  for (const w of wanted) read.set(key(w.location, w.offset, w.length), await source.readRange!(dir + w.location, w.offset, w.length));
  const table = findTokenEmbedding(m.graph, (location, offset, length) =>
    onDisk.has(location) ? read.get(key(location, offset, length)) : inMemory(location, offset, length),
  );
  return { table, ownBytes: wanted.length > 0 };
}

/** An external-data file the backend reads from disk; its bytes were never read. */
const isByPath = (f: ExternalFile): boolean => f.diskPath !== undefined && f.size > 0 && f.data.length === 0;
