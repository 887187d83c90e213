// What files a model source holds. Sources that can say (a hub repository through its API, a
// folder, picked files) list them once; a plain base URL cannot, so its candidate files are
// probed one by one. Either way the dtype choice and the load read one list.
import { DTYPES, onnxCandidates } from '../model/dtypes';
import type { ModelSource, RepoFile } from './model-source';
export type { RepoFile } from './model-source';


/** Every ONNX file any dtype of these graph bases may be stored in. */
export const variantCandidates = (bases: readonly string[]): string[] => bases.flatMap((b) => DTYPES.flatMap((d) => onnxCandidates(d, b)));

/**
 * The source's own listing, or, where it cannot list, the `probe` paths it answers has() for
 * (sizes unknown). Null from list() means "cannot list"; an error from it (repository not
 * found, no such revision) is the user's answer and is thrown.
 */
export async function listFiles(source: ModelSource, probe: readonly string[]): Promise<{ files: RepoFile[]; listed: boolean }> {
  const listed = source.list ? await source.list() : null;
  if (listed) return { files: listed, listed: true };
  const found = await Promise.all(probe.map(async (path): Promise<RepoFile | null> => ((await source.has(path)) ? { path, size: null } : null)));
  return { files: found.filter((f): f is RepoFile => f !== null), listed: false };
}

/** The source with has() answered from its listing (no request per file). */
export function withListing(source: ModelSource, files: readonly RepoFile[]): ModelSource {
  const paths = new Set(files.map((f) => f.path));
  return { ...source, has: async (path) => paths.has(path), list: async () => [...files] };
}

/**
 * Files that hold an ONNX file's external weights, as exporters name them: "model.onnx_data",
 * "model.onnx.data", "model.onnx_data_1", … next to the graph. (The graph names the real ones;
 * this is for sizes before anything is downloaded.)
 */
export function externalDataFiles(files: readonly RepoFile[], onnxPath: string): RepoFile[] {
  return files.filter((f) => f.path.startsWith(`${onnxPath}_data`) || f.path.startsWith(`${onnxPath}.data`));
}

/** The .onnx files of a listing, for messages that say what a repository does have. */
export const onnxFiles = (files: readonly RepoFile[]): RepoFile[] => files.filter((f) => f.path.endsWith('.onnx')).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
