// Which ONNX variant of a model to load. Hub repositories often ship only some dtypes (many only
// q4f16), and not every backend runs every dtype: WebGPU without shader-f16 computes 16-bit
// graphs wrongly, and WASM addresses 4 GB at most. The user's explicit dtype wins; otherwise the
// backend's preference order below picks the first variant the repository has, and the reason
// is kept in words for the model info and the JSON.
import { AtmanError } from '../../core/errors';
import type { OrtBackend } from '../backends/backend';
import { DTYPES, type DtypeRequest, type ModelDtype, needsFp16, onnxCandidates } from '../model/dtypes';
import { type RepoFile, externalDataFiles, onnxFiles } from './repo-files';

/** One dtype the repository has for every graph of the model's layout. */
export interface ModelVariant {
  dtype: ModelDtype;
  /** one ONNX file per graph base, in the order the bases were given (decoder first) */
  files: string[];
  /** all of them with their external weights; null when some size is unknown */
  bytes: number | null;
}

export interface VariantChoice extends ModelVariant {
  requested: DtypeRequest;
  /** why this variant, in words */
  reason: string;
  /** every variant the repository has, for the picker */
  variants: ModelVariant[];
}

/** What the choice needs to know about a backend (an OrtBackend has it). */
export type BackendCaps = Pick<OrtBackend, 'name' | 'supportsFp16'>;

/** The wasm32 heap: a variant this big cannot be loaded by the WASM backend. */
export const WASM_MAX_BYTES = 4 * 1024 ** 3;

/**
 * Preference orders. WebGPU: 4-bit weights first (smallest download, and MatMulNBits keeps rows
 * independent); q8's DynamicQuantizeLinear has no WebGPU kernel, so it comes last. WASM: q4, then
 * q8, then larger ones. Node's CPU: full precision first. 16-bit variants come last on CPUs (slow,
 * and not every operator has a 16-bit kernel there) and never on WebGPU without shader-f16.
 */
export function preferenceOrder(b: BackendCaps): ModelDtype[] {
  if (b.name === 'webgpu') return b.supportsFp16 ? ['q4f16', 'q4', 'fp16', 'fp32', 'q8'] : ['q4', 'fp32', 'q8'];
  if (b.name === 'wasm') return ['q4', 'q8', 'fp32', 'fp16', 'q4f16'].filter((d) => b.supportsFp16 || !needsFp16(d as ModelDtype)) as ModelDtype[];
  return ['fp32', 'q4', 'q8', 'fp16', 'q4f16'].filter((d) => b.supportsFp16 || !needsFp16(d as ModelDtype)) as ModelDtype[];
}

export function backendWords(b: BackendCaps): string {
  if (b.name === 'webgpu') return b.supportsFp16 ? 'WebGPU with shader-f16' : 'WebGPU without shader-f16';
  return b.name === 'wasm' ? 'WASM' : 'the CPU (onnxruntime-node)';
}

/** The dtypes present for every base, with their files and sizes. */
export function modelVariants(files: readonly RepoFile[], bases: readonly string[]): ModelVariant[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const out: ModelVariant[] = [];
  for (const dtype of DTYPES) {
    const chosen = bases.map((b) => onnxCandidates(dtype, b).find((c) => byPath.has(c)));
    if (chosen.some((c) => c === undefined)) continue;
    const paths = chosen as string[];
    const sizes = paths.flatMap((p) => [byPath.get(p)!, ...externalDataFiles(files, p)].map((f) => f.size));
    out.push({ dtype, files: paths, bytes: sizes.every((s) => s !== null) ? sizes.reduce((a, s) => a + s!, 0) : null });
  }
  return out;
}

export function formatSize(n: number | null): string {
  if (n === null) return 'size unknown';
  if (n < 1024) return `${n} B`;
  const [v, u] = n < 1024 ** 2 ? [n / 1024, 'KB'] : n < 1024 ** 3 ? [n / 1024 ** 2, 'MB'] : [n / 1024 ** 3, 'GB'];
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${u}`;
}

const variantWords = (v: ModelVariant): string => `${v.dtype} (${v.files.join(' + ')}, ${formatSize(v.bytes)})`;

/**
 * The variant to load: the requested dtype when one is given (its files must exist, and a 16-bit
 * one needs a backend that runs it), else the first of the backend's preference order that the
 * repository has and the backend can hold. Errors name the ONNX files the repository does have.
 */
export function chooseVariant(id: string, files: readonly RepoFile[], bases: readonly string[], backend: BackendCaps, requested: DtypeRequest = 'auto'): VariantChoice {
  const variants = modelVariants(files, bases);
  const have = onnxFiles(files);
  const haveWords = have.length
    ? `Its ONNX files: ${have.map((f) => `${f.path} (${formatSize(f.size)})`).join(', ')}.`
    : 'It has no ONNX files at all (transformers.js layout: onnx/model.onnx, onnx/model_q4.onnx, …).';
  const variantList = variants.length ? ` The variants it has: ${variants.map((v) => v.dtype).join(', ')}; choose one of them or auto.` : '';

  if (requested !== 'auto') {
    const v = variants.find((x) => x.dtype === requested);
    if (!v) {
      const wanted = bases.map((b) => onnxCandidates(requested, b).join(' or ')).join(', ');
      throw new AtmanError('MODEL_FILES_MISSING', `${id} has no ${requested} variant (looked for ${wanted}). ${haveWords}${variantList}`, {
        requested,
        onnxFiles: have.map((f) => f.path),
      });
    }
    if (needsFp16(requested) && !backend.supportsFp16) throw fp16Refusal(backend, [v], variants, false);
    return { ...v, requested, reason: `${requested} as asked`, variants };
  }

  const order = preferenceOrder(backend);
  const skipped: string[] = [];
  for (const dtype of order) {
    const v = variants.find((x) => x.dtype === dtype);
    if (!v) continue;
    if (backend.name === 'wasm' && v.bytes !== null && v.bytes >= WASM_MAX_BYTES) {
      skipped.push(`${dtype} (${formatSize(v.bytes)}) is more than the 4 GB WASM can address`);
      continue;
    }
    const before = order.slice(0, order.indexOf(dtype)).filter((d) => !variants.some((x) => x.dtype === d));
    const why = [
      `auto for ${backendWords(backend)}, which prefers ${order.join(' > ')}${order.length < DTYPES.length ? ` (${DTYPES.filter((d) => !order.includes(d)).join(' and ')} need shader-f16)` : ''}`,
      before.length ? `the repository has no ${before.join(' or ')}` : '',
      ...skipped,
    ].filter(Boolean);
    return { ...v, requested, reason: `${why.join('; ')}: chose ${variantWords(v)}.`, variants };
  }
  if (!variants.length) {
    throw new AtmanError('MODEL_FILES_MISSING', `${id} has no ONNX variant of ${bases.map((b) => `onnx/${b}*.onnx`).join(', ')} that this engine reads. ${haveWords}`, {
      onnxFiles: have.map((f) => f.path),
    });
  }
  const unrunnable = variants.filter((v) => !order.includes(v.dtype));
  if (unrunnable.length === variants.length) throw fp16Refusal(backend, variants, variants, true);
  throw new AtmanError('MODEL_UNSUPPORTED', `No variant of ${id} fits the ${backendWords(backend)} backend: ${skipped.join('; ')}. Use WebGPU, or the command line (onnxruntime-node).`);
}

function fp16Refusal(backend: BackendCaps, asked: ModelVariant[], all: ModelVariant[], only: boolean): AtmanError {
  const others = all.filter((v) => !needsFp16(v.dtype)).map((v) => v.dtype);
  const what = asked.map(variantWords).join(', ');
  const alternative = others.length ? `choose ${others.join(' or ')}, or use the WASM backend` : 'use the WASM backend (it runs them on the CPU)';
  return new AtmanError(
    'FP16_UNSUPPORTED',
    `${only ? `The repository has only ${what}, which compute${asked.length > 1 ? '' : 's'}` : `The ${what} variant computes`} in 16-bit floats, which the ${backend.name} backend here cannot run correctly (no shader-f16): ${alternative}.`,
  );
}
