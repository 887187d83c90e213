// Which files of a model source a load reads: config.json and tokenizer.json, then, by the layout
// config.json names, one ONNX variant per graph (chosen by dtype-choice.ts). The source's listing
// is read once and answers every later "is this file there" (external weights included); a plain
// base URL, which cannot list, is probed for the candidate files instead.
import { AtmanError, isAtmanError } from '../../core/errors';
import { type BackendCaps, type VariantChoice, chooseVariant, modelVariants } from './dtype-choice';
import type { DtypeRequest, ModelDtype } from '../model/dtypes';
import { type ModelConfig, parseModelConfig } from '../model/model-config';
import { type ModelLayout, detectLayout, layoutBases } from '../model/model-layout';
import type { FileProgress, ModelSource } from './model-source';
import { type RepoFile, listFiles, onnxFiles, variantCandidates, withListing } from './repo-files';

export interface ModelFiles {
  /** the source, answering has() from its listing where it has one */
  source: ModelSource;
  config: ModelConfig;
  layout: ModelLayout;
  choice: VariantChoice;
  graphs: { decoder: string; encoder: string | null; embedTokens: string | null };
}

/** A source's files, its config and layout, and the graph bases that layout loads; nothing chosen yet. */
export interface ModelListing {
  source: ModelSource;
  config: ModelConfig;
  layout: ModelLayout;
  /** decoder first, then the image encoder and the embedding graph where the layout has them */
  bases: string[];
  /** the ONNX candidates found (all files, where the source lists) */
  files: RepoFile[];
  /** config.json / tokenizer.json, when absent */
  missing: string[];
}

export async function listModel(given: ModelSource, progress?: (p: FileProgress) => void): Promise<ModelListing> {
  const first = await listFiles(given, ['config.json', 'tokenizer.json']);
  const source = first.listed ? withListing(given, first.files) : given;
  const missing = ['config.json', 'tokenizer.json'].filter((f) => !first.files.some((x) => x.path === f));
  // The graph files to look for depend on config.json.
  if (missing.includes('config.json')) {
    const graphs = onnxFiles(first.files);
    throw filesMissing(source, [...missing, graphs.length ? `(its ONNX files: ${graphs.map((f) => f.path).join(', ')})` : 'any onnx/*.onnx graph']);
  }
  // Read outside the try: a failed read (network, a damaged download) keeps its own words, and
  // only what the parse says is "not valid JSON".
  const configBytes = await source.read('config.json', progress);
  let config: ModelConfig;
  try {
    config = parseModelConfig(JSON.parse(new TextDecoder().decode(configBytes)));
  } catch (e) {
    if (isAtmanError(e)) throw e;
    throw new AtmanError('MODEL_UNSUPPORTED', `config.json of ${source.id} is not valid JSON.`);
  }
  const layout = detectLayout(config);
  const b = layoutBases(layout);
  const bases = [b.decoder, ...(b.encoder ? [b.encoder] : []), ...(b.embedTokens ? [b.embedTokens] : [])];
  const files = first.listed ? first.files : (await listFiles(given, variantCandidates(bases))).files;
  return { source, config, layout, bases, files, missing };
}

export async function resolveModelFiles(
  given: ModelSource,
  backend: BackendCaps,
  requested: DtypeRequest = 'auto',
  progress?: (p: FileProgress) => void,
): Promise<ModelFiles> {
  const { source, config, layout, bases, files, missing } = await listModel(given, progress);
  let choice: VariantChoice;
  try {
    choice = chooseVariant(source.id, files, bases, backend, requested);
  } catch (e) {
    // Name everything that is missing at once.
    if (missing.length && isAtmanError(e, 'MODEL_FILES_MISSING')) throw new AtmanError(e.code, `${source.id} is missing ${missing.join(', ')}. ${e.message}`, e.detail);
    throw e;
  }
  if (missing.length) throw filesMissing(source, missing);
  const b = layoutBases(layout);
  const byBase = new Map(bases.map((base, i) => [base, choice.files[i]!]));
  return {
    source,
    config,
    layout,
    choice,
    graphs: {
      decoder: byBase.get(b.decoder)!,
      encoder: b.encoder ? byBase.get(b.encoder)! : null,
      embedTokens: b.embedTokens ? byBase.get(b.embedTokens)! : null,
    },
  };
}

/** A dtype a repository has, with its download size (null: unknown). */
export interface VariantInfo {
  dtype: ModelDtype;
  bytes: number | null;
}

/** What a source holds, read before any weights are downloaded, and what a load would take. */
export interface VariantListing {
  variants: VariantInfo[];
  /** the variant a load with this dtype would take on this backend, and why; null when none can be loaded there */
  chosen: (VariantInfo & { file: string; reason: string }) | null;
  /** why none can, in words */
  problem?: string;
}

export async function describeVariants(given: ModelSource, backend: BackendCaps, requested: DtypeRequest = 'auto'): Promise<VariantListing> {
  const { source, bases, files } = await listModel(given);
  const variants = modelVariants(files, bases).map((v) => ({ dtype: v.dtype, bytes: v.bytes }));
  try {
    const c = chooseVariant(source.id, files, bases, backend, requested);
    return { variants, chosen: { dtype: c.dtype, bytes: c.bytes, file: c.files[0]!, reason: c.reason } };
  } catch (e) {
    // The variants are still worth showing when the one asked for (or none) cannot be loaded there.
    if (!isAtmanError(e)) throw e;
    return { variants, chosen: null, problem: e.message };
  }
}

function filesMissing(source: ModelSource, missing: string[]): AtmanError {
  return new AtmanError('MODEL_FILES_MISSING', `${source.id} is missing ${missing.join(', ')} (expected the Hugging Face layout with ONNX files in onnx/).`);
}
