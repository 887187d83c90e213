// Every failure a user can cause or meet has a code and a sentence they can act on.
// The name and code survive structured cloning across the worker boundary.

export type AtmanErrorCode =
  | 'EMPTY_PROMPT'
  | 'EMPTY_TARGET'
  | 'TOO_LONG'
  | 'BAD_SETTING'
  | 'MODEL_FILES_MISSING'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_DAMAGED'
  | 'MODEL_INVALID'
  | 'DOWNLOAD_CORRUPTED'
  | 'NETWORK_UNREACHABLE'
  | 'NETWORK_CORS'
  | 'ACCESS_DENIED'
  | 'RATE_LIMITED'
  | 'SERVER_ERROR'
  | 'MODEL_UNSUPPORTED'
  | 'TOKENIZER_FAILED'
  | 'TOKEN_OUT_OF_VOCABULARY'
  | 'NO_ATTENTION'
  | 'LAYER_COUNT_MISMATCH'
  | 'FUSED_ATTENTION_MULTIPLICATIVE'
  | 'FUSED_ATTENTION_NO_PROBS'
  | 'FP16_UNSUPPORTED'
  | 'SELF_CHECK_FAILED'
  | 'NON_FINITE_SCORES'
  | 'CANCELLED'
  | 'IMAGE_NOT_AN_IMAGE'
  | 'IMAGE_UNSUPPORTED_FORMAT'
  | 'IMAGE_EMPTY'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_TOO_THIN'
  | 'IMAGE_DAMAGED'
  | 'IMAGE_TOKENS_MISMATCH'
  | 'IMAGE_REQUIRED'
  | 'GRADIENT_UNSUPPORTED'
  | 'BACKEND_FAILED'
  | 'BACKEND_UNAVAILABLE'
  | 'DATASET_LINE_INVALID'
  | 'DATASET_RESULTS_DAMAGED'
  | 'DEVICE_LOST'
  | 'WORKER_CRASHED';

export class AtmanError extends Error {
  override name = 'AtmanError';
  constructor(
    readonly code: AtmanErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

export const isAtmanError = (e: unknown, code?: AtmanErrorCode): e is AtmanError =>
  e instanceof Error && e.name === 'AtmanError' && (code === undefined || (e as AtmanError).code === code);

/** Throws CANCELLED when the run's signal was tripped; called between the steps of a run. */
export function checkCancelled(signal: AbortSignal | undefined, words: string): void {
  if (signal?.aborted) throw new AtmanError('CANCELLED', words);
}
