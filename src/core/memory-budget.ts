// How many passes one batch may hold: every tensor a batch item adds while onnxruntime runs it,
// from the model's config and the sequence's length, against a budget in bytes.
//
// A batch item costs, at its worst moment (one layer at a time: the runtime frees a layer's
// intermediates before the next layer's peak):
//  - keys and values: the cached prefix fed to the pass (tiled per item, every layer, alive for the
//    whole run) plus the present keys and values each layer concatenates over all S rows;
//  - attention scores: heads x rows x keys for one layer, in ATTENTION_COPIES copies: an exported
//    attention computes a chain of them (scores, scale, causal Where, mask Add, Softmax, and the
//    controlled copy AtMan adds); the runtime frees some on the way, but its allocator keeps the
//    blocks, and at 1000 tokens on GPT-2 small fewer than six copies fell short of the measured peak
//    (npm run measure-memory);
//  - activations: rows x (ACTIVATION_WIDTHS x hidden + 2 x MLP width) for one layer;
//  - the head: fp32 logits of the rows that reach it and the log-softmax over them.
// The run also holds one copy of the unperturbed pass's keys and values (the prefix cache),
// whatever the batch size: that is the fixed part.
//
// Rows computed and prefix length trade against each other (a pass that starts at column j
// computes S - j rows over a j-row cached prefix); the cost is linear in j, so its worst case is
// at one end: j = 0 (full recomputation) or j = S - 1 (one row over the whole prefix).
import { AtmanError } from './errors';

export const ATTENTION_COPIES = 6;
export const ACTIVATION_WIDTHS = 6;

/** Batches never grow past this: beyond it a bigger batch buys no speed on any backend measured. */
export const MAX_BATCH = 64;

/** What one run of passes may add to a loaded model in Node (the CLI) when nothing is given. */
export const DEFAULT_MEMORY_BUDGET = 512 * 2 ** 20;

/** A browser tab's share: the playground's model already lives in the same tab. */
export const TAB_MEMORY_BUDGET = 256 * 2 ** 20;

export interface MemoryShape {
  numLayers: number;
  numHeads: number;
  /** key/value heads (fewer than numHeads under grouped-query attention) */
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  /** MLP width; default 4 x hiddenSize */
  intermediateSize?: number;
  vocab: number;
  /** sequence rows S: prompt plus target minus one */
  seqLen: number;
  /** encoder columns read through cross-attention (encoder-decoder models); default 0 */
  encoderLength?: number;
  /** rows that reach the LM head in one pass: the scored target rows with the score head, else seqLen */
  logitRows: number;
  /** whether passes may start late over a cached prefix fed per batch item */
  prefixReuse: boolean;
  /** bytes of one activation: 4 (fp32, q4, q8) or 2 (fp16, q4f16) */
  elementBytes: number;
}

export interface MemoryParts {
  keyValues: number;
  attention: number;
  activations: number;
  head: number;
}

export interface MemoryEstimate {
  /** bytes one more batch item adds, at its worst start */
  perItemBytes: number;
  /** bytes held once per run: the unperturbed pass's keys and values, read back for prefix reuse */
  fixedBytes: number;
  /** perItemBytes split by what holds it, at the same worst start */
  parts: MemoryParts;
}

export interface MemoryPlan extends MemoryEstimate {
  budgetBytes: number;
  batchSize: number;
  /** fixedBytes + batchSize x perItemBytes */
  estimateBytes: number;
  /** false when even one pass is estimated above the budget (it still runs, at batch 1) */
  fits: boolean;
}

export function estimatePassMemory(s: MemoryShape): MemoryEstimate {
  const S = s.seqLen;
  const b = s.elementBytes;
  const E = s.encoderLength ?? 0;
  const mlp = s.intermediateSize ?? 4 * s.hiddenSize;
  const kvRow = 2 * s.numLayers * s.numKvHeads * s.headDim * b;
  const at = (start: number): MemoryParts => {
    const rows = S - start;
    return {
      keyValues: kvRow * (start + S),
      attention: ATTENTION_COPIES * s.numHeads * rows * (S + E) * b,
      activations: rows * (ACTIVATION_WIDTHS * s.hiddenSize + 2 * mlp) * b,
      head: 2 * 4 * Math.min(s.logitRows, rows) * s.vocab,
    };
  };
  const ends = s.prefixReuse && S > 1 ? [at(0), at(S - 1)] : [at(0)];
  const total = (p: MemoryParts) => p.keyValues + p.attention + p.activations + p.head;
  const parts = ends.reduce((a, p) => (total(p) > total(a) ? p : a));
  // The pass whose one row reads the whole prefix still scores its target rows: keep the head's worst too.
  parts.head = Math.max(...ends.map((p) => p.head));
  return { perItemBytes: total(parts), fixedBytes: s.prefixReuse ? kvRow * S : 0, parts };
}

/** The biggest batch (1..MAX_BATCH) whose estimate fits budgetBytes, and the estimate at it. */
export function planBatch(shape: MemoryShape, budgetBytes: number): MemoryPlan {
  const est = estimatePassMemory(shape);
  const room = budgetBytes - est.fixedBytes;
  const batchSize = est.perItemBytes > 0 && room > 0 ? Math.max(1, Math.min(MAX_BATCH, Math.floor(room / est.perItemBytes))) : 1;
  const estimateBytes = est.fixedBytes + batchSize * est.perItemBytes;
  return { ...est, budgetBytes, batchSize, estimateBytes, fits: estimateBytes <= budgetBytes };
}

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  kib: 2 ** 10,
  mb: 1e6,
  mib: 2 ** 20,
  gb: 1e9,
  gib: 2 ** 30,
  tb: 1e12,
  tib: 2 ** 40,
};

/** "2GB", "512MiB", "1.5 GiB", "1000000" (bytes): decimal units are powers of 1000, binary ones of 1024. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? (m[2] || 'b').toLowerCase() : '';
  const factor = UNITS[unit];
  const bytes = m && factor ? Math.floor(Number(m[1]) * factor) : NaN;
  if (!(bytes >= 1)) {
    throw new AtmanError('BAD_SETTING', `A memory size is a positive number with a unit such as 512MiB, 2GB or 1.5GiB (got "${text}").`);
  }
  return bytes;
}

/** Bytes in KiB, MiB or GiB, for reports. */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 2 ** 10).toFixed(1)} KiB`;
}

export interface GradientBatchInput {
  vocab: number;
  seqLen: number;
  numHeads: number;
  budgetBytes: number;
  layers: number;
  /** rows that go through the LM head; default seqLen */
  logitRows?: number;
  hiddenSize?: number;
}

/**
 * Batch size for gradient runs (input × gradient, integrated-gradient steps, Chefer's targets) under
 * the same budget as AtMan's passes. A backward pass keeps every layer's activations alive until
 * their gradients are taken, where a forward pass frees them layer by layer: per item, each layer's
 * attention probabilities and their gradients (2·heads·S²), a dozen [S, hidden] activations and their
 * gradients, and the target rows' logits with their gradient.
 */
export function chooseGradientBatchSize({ vocab, seqLen, numHeads, budgetBytes, logitRows = seqLen, hiddenSize = 0, layers }: GradientBatchInput): number {
  const perLayer = 2 * numHeads * seqLen * seqLen + 24 * seqLen * hiddenSize;
  const perItem = 4 * (2 * logitRows * vocab + layers * perLayer);
  if (!(perItem > 0) || !(budgetBytes > 0)) return 1;
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(budgetBytes / perItem)));
}
