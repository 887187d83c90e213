// transformers.js names a model's ONNX variants by suffix; these are the ones the engine loads.
import { AtmanError } from '../../core/errors';

export const DTYPES = ['fp32', 'fp16', 'q8', 'q4', 'q4f16'] as const;
export type ModelDtype = (typeof DTYPES)[number];
/** what a user may ask for: one variant, or 'auto' (the engine picks by backend and what the repository has) */
export type DtypeRequest = ModelDtype | 'auto';

const SUFFIX: Record<ModelDtype, string[]> = {
  fp32: [''],
  fp16: ['_fp16'],
  q8: ['_quantized', '_int8', '_uint8'],
  q4: ['_q4'],
  q4f16: ['_q4f16'],
};

export const needsFp16 = (d: ModelDtype): boolean => d === 'fp16' || d === 'q4f16';

export function parseDtype(s: string): ModelDtype {
  const d = s === 'quantized' || s === 'int8' || s === 'uint8' ? 'q8' : s;
  if (!(DTYPES as readonly string[]).includes(d)) {
    throw new AtmanError('BAD_SETTING', `Unknown model dtype "${s}". Choose one of auto, ${DTYPES.join(', ')}.`);
  }
  return d as ModelDtype;
}

export const parseDtypeRequest = (s: string): DtypeRequest => (s === 'auto' ? 'auto' : parseDtype(s));

/** Candidate file names inside onnx/, in preference order. */
export const onnxCandidates = (dtype: ModelDtype, base = 'model'): string[] => SUFFIX[dtype].map((s) => `onnx/${base}${s}.onnx`);
