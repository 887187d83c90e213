// Which files of a model source a load reads: config.json and tokenizer.json, then, by the layout
// config.json names, one ONNX variant per graph (chosen by dtype-choice.ts). The source's listing
// is read once and answers every later "is this file there" (external weights included); a plain
// base URL, which cannot list, is probed for the candidate files instead.
import { AtmanError, isAtmanError } from '../core/errors';
import { type BackendCaps, type VariantChoice, chooseVariant } from './dtype-choice';
import type { DtypeRequest } from './dtypes';
import { type ModelConfig, parseModelConfig } from './model-config';
import { type ModelLayout, detectLayout, layoutBases } from './model-layout';
import type { FileProgress, ModelSource } from './model-source';
import { listFiles, onnxFiles, variantCandidates, withListing } from './repo-files';

export interface ModelFiles {
  /** the source, answering has() from its listing where it has one */
  source: ModelSource;
  config: ModelConfig;
  layout: ModelLayout;
  choice: VariantChoice;
  graphs: { decoder: string; encoder: string | null; embedTokens: string | null };
}

export async function resolveModelFiles(
  given: ModelSource,
  backend: BackendCaps,
  requested: DtypeRequest = 'auto',
  progress?: (p: FileProgress) => void,
): Promise<ModelFiles> {
  const first = await listFiles(given, ['config.json', 'tokenizer.json']);
  const source = first.listed ? withListing(given, first.files) : given;
  const missing = ['config.json', 'tokenizer.json'].filter((f) => !first.files.some((x) => x.path === f));
  // The graph files to look for depend on config.json.
  if (missing.includes('config.json')) {
    const graphs = onnxFiles(first.files);
    throw filesMissing(source, [...missing, graphs.length ? `(its ONNX files: ${graphs.map((f) => f.path).join(', ')})` : 'any onnx/*.onnx graph']);
  }
  let config: ModelConfig;
  try {
    config = parseModelConfig(JSON.parse(new TextDecoder().decode(await source.read('config.json', progress))));
  } catch (e) {
    if (isAtmanError(e)) throw e;
    throw new AtmanError('MODEL_UNSUPPORTED', `config.json of ${source.id} is not valid JSON.`);
  }
  const layout = detectLayout(config);
  const bases = layoutBases(layout);
  const baseList = [bases.decoder, ...(bases.encoder ? [bases.encoder] : []), ...(bases.embedTokens ? [bases.embedTokens] : [])];
  const files = first.listed ? first.files : (await listFiles(given, variantCandidates(baseList))).files;
  let choice: VariantChoice;
  try {
    choice = chooseVariant(source.id, files, baseList, backend, requested);
  } catch (e) {
    // Name everything that is missing at once.
    if (missing.length && isAtmanError(e, 'MODEL_FILES_MISSING')) throw new AtmanError(e.code, `${source.id} is missing ${missing.join(', ')}. ${e.message}`, e.detail);
    throw e;
  }
  if (missing.length) throw filesMissing(source, missing);
  const byBase = new Map(baseList.map((b, i) => [b, choice.files[i]!]));
  return {
    source,
    config,
    layout,
    choice,
    graphs: {
      decoder: byBase.get(bases.decoder)!,
      encoder: bases.encoder ? byBase.get(bases.encoder)! : null,
      embedTokens: bases.embedTokens ? byBase.get(bases.embedTokens)! : null,
    },
  };
}

function filesMissing(source: ModelSource, missing: string[]): AtmanError {
  return new AtmanError('MODEL_FILES_MISSING', `${source.id} is missing ${missing.join(', ')} (expected the Hugging Face layout with ONNX files in onnx/).`);
}
