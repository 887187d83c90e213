// Model folders from the user's disk (a folder picker or a dropped folder). Browsers hand over
// paths in several shapes ("my-model/onnx/model.onnx" from webkitdirectory, "/my-model/..." from
// drag-and-drop entries, backslashes from some platforms), so both the page helper and the
// worker bring them to the hub layout ("config.json", "onnx/model.onnx") with rootModelFolder.
import { AtmanError } from '../../core/errors';
import { DTYPES, type DtypeRequest, type ModelDtype, onnxCandidates } from '../model/dtypes';
import { type ModelSource, fileMapSource } from './model-source';

export function normalizeFolderPath(p: string): string {
  return p
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/**
 * Paths relative to the model's own folder: strips the top folder all files share (the picked
 * folder's name, returned as `name`), then, when there is no config.json at the top but exactly
 * one shallowest one below (the user picked a parent folder), re-roots there.
 */
export function rootModelFolder<T extends { path: string }>(files: readonly T[]): { name: string; files: T[] } {
  let list = files.map((f) => ({ ...f, path: normalizeFolderPath(f.path) })).filter((f) => f.path !== '');
  let name = '';
  const top = (p: string): string | null => (p.includes('/') ? p.slice(0, p.indexOf('/')) : null);
  const first = list[0] ? top(list[0].path) : null;
  if (first !== null && list.every((f) => top(f.path) === first)) {
    name = first;
    list = list.map((f) => ({ ...f, path: f.path.slice(first.length + 1) }));
  }
  if (!list.some((f) => f.path === 'config.json')) {
    const configs = list.filter((f) => f.path.endsWith('/config.json'));
    const depth = (p: string): number => p.split('/').length;
    const least = Math.min(...configs.map((f) => depth(f.path)));
    const shallowest = configs.filter((f) => depth(f.path) === least);
    if (shallowest.length === 1) {
      const dir = shallowest[0]!.path.slice(0, -'config.json'.length);
      name = dir.slice(0, -1).split('/').pop()!;
      list = list.filter((f) => f.path.startsWith(dir)).map((f) => ({ ...f, path: f.path.slice(dir.length) }));
    }
  }
  return { name, files: list };
}

/**
 * Throws MODEL_FILES_MISSING naming what the folder lacks (for `dtype`; with 'auto', any ONNX graph
 * in onnx/ will do, the load then chooses), with a hint at the usual mistakes (picked onnx/ itself,
 * picked a folder of several models, only another variant present).
 */
export function checkModelFolder(id: string, paths: readonly string[], dtype: DtypeRequest = 'auto'): void {
  const have = new Set(paths);
  const graphs = paths.filter((p) => p.startsWith('onnx/') && p.endsWith('.onnx'));
  const missing = ['config.json', 'tokenizer.json'].filter((p) => !have.has(p));
  if (dtype === 'auto') {
    if (!graphs.length) missing.push('onnx/model.onnx (or any other ONNX graph in onnx/)');
  } else if (!graphs.some((g) => dtypeOfGraph(g) === dtype)) missing.push(onnxCandidates(dtype).join(' or '));
  if (!missing.length) return;
  const hints: string[] = [];
  const variants = DTYPES.filter((d) => d !== dtype && graphs.some((g) => dtypeOfGraph(g) === d));
  const configs = paths.filter((p) => p.endsWith('/config.json'));
  if (variants.length && missing.length === 1) hints.push(`It has the ${variants.join(', ')} variant; choose that (or auto) instead of ${dtype}.`);
  else if (paths.some((p) => !p.includes('/') && p.endsWith('.onnx'))) hints.push("Its .onnx files are at the top: pick the model's own folder, the one that holds config.json and onnx/.");
  else if (configs.length > 1) hints.push(`It holds several models (${configs.map((p) => p.slice(0, -'/config.json'.length)).join(', ')}); pick one of them.`);
  else if (paths.length) hints.push(`It holds ${paths.slice(0, 6).join(', ')}${paths.length > 6 ? ` and ${paths.length - 6} more` : ''}.`);
  else hints.push('It is empty.');
  const forWhat = dtype === 'auto' ? '' : ` for ${dtype}`;
  throw new AtmanError(
    'MODEL_FILES_MISSING',
    `The folder "${id}" is not a model folder${forWhat}: it has no ${missing.join(', ')} (expected the Hugging Face layout with ONNX files in onnx/). ${hints.join(' ')}`,
    { missing },
  );
}

/** The dtype a graph's file name says (transformers.js suffixes), whatever its base name. */
function dtypeOfGraph(path: string): ModelDtype {
  const stem = path.slice(path.lastIndexOf('/') + 1, -'.onnx'.length);
  // Longest suffix first: "_q4f16" before "_fp16" and "_q4".
  const bySuffix = DTYPES.flatMap((d) => onnxCandidates(d, '').map((c) => [d, c.slice('onnx/'.length, -'.onnx'.length)] as const))
    .filter(([, s]) => s !== '')
    .sort((a, b) => b[1].length - a[1].length);
  for (const [d, s] of bySuffix) if (stem.endsWith(s)) return d;
  return 'fp32';
}

/** A picked or dropped folder as a ModelSource, checked up front so the error names what is missing. */
export function pickedFolderSource(id: string, files: ReadonlyArray<{ path: string; file: Blob }>, dtype: DtypeRequest = 'auto'): ModelSource {
  const rooted = rootModelFolder(files);
  checkModelFolder(id, rooted.files.map((f) => f.path), dtype);
  return fileMapSource(id, new Map(rooted.files.map((f) => [f.path, f.file])));
}
