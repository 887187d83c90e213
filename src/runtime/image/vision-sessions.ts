// The parts of a vision-language model besides its decoder: the image encoder (run unmodified,
// once per explanation, since every pass shares the image) and, for decoders that take input
// embeddings, the token-embedding graph. They feed the decoder the way transformers.js does.
import type { InferenceSession } from 'onnxruntime-common';
import { AtmanError } from '../../core/errors';
import type { OrtBackend } from '../backends/backend';
import type { LoadedImageProcessor } from './image-processor';
import type { ModelLayout } from '../model/model-layout';

export interface VisionParts {
  layout: Exclude<ModelLayout, 'causal'>;
  encoder: InferenceSession;
  encoderFile: string;
  embedTokens: InferenceSession | null;
  embedFile: string | null;
  processor: LoadedImageProcessor;
}

/** Processed pixels as the encoder takes them. */
export interface PixelInput {
  /** row-major pixel values: [1, frames, 3, H, W] (in-sequence) or [1, 3, H, W] (captioners) */
  data: Float32Array;
  dims: readonly number[];
  /** [1, frames, H, W] for encoders that take it (Idefics3) */
  attentionMask?: { data: Uint8Array; dims: readonly number[] };
}

/** The encoder output: [rows, dim] row-major, one row per image token in sequence order. */
export interface ImageFeatures {
  data: Float32Array;
  rows: number;
  dim: number;
}

export async function encodeImage(parts: VisionParts, backend: OrtBackend, pixels: PixelInput): Promise<ImageFeatures> {
  const feeds: Record<string, InstanceType<OrtBackend['Tensor']>> = {};
  for (const name of parts.encoder.inputNames) {
    if (name === 'pixel_values') feeds[name] = new backend.Tensor('float32', pixels.data, [...pixels.dims]);
    else if (name === 'pixel_attention_mask') {
      const m = pixels.attentionMask ?? onesMask(pixels.dims);
      feeds[name] = new backend.Tensor('bool', m.data, [...m.dims]);
    } else {
      throw new AtmanError('MODEL_UNSUPPORTED', `The image encoder ${parts.encoderFile} takes an input "${name}" that this engine does not know how to fill.`);
    }
  }
  const output = parts.layout === 'image-text-to-text' ? 'image_features' : 'last_hidden_state';
  if (!parts.encoder.outputNames.includes(output)) {
    throw new AtmanError('MODEL_UNSUPPORTED', `The image encoder ${parts.encoderFile} has no "${output}" output.`);
  }
  const out = await parts.encoder.run(feeds, [output]);
  const t = out[output]!;
  const data = Float32Array.from((await t.getData()) as Float32Array);
  t.dispose?.();
  const dim = t.dims[t.dims.length - 1]!;
  return { data, rows: data.length / dim, dim };
}

/** [S, dim] input embeddings of token ids, through the model's own embed_tokens graph. */
export async function embedTokens(parts: VisionParts, backend: OrtBackend, ids: readonly number[]): Promise<{ data: Float32Array; dim: number }> {
  if (!parts.embedTokens) throw new AtmanError('MODEL_UNSUPPORTED', 'This model has no embed_tokens graph.');
  const input = parts.embedTokens.inputNames[0]!;
  const out = await parts.embedTokens.run({ [input]: new backend.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]) }, ['inputs_embeds']);
  const t = out.inputs_embeds!;
  const data = Float32Array.from((await t.getData()) as Float32Array);
  t.dispose?.();
  return { data, dim: t.dims[2]! };
}

/** Image feature rows in place of the image-token rows, in order (transformers.js' default merge). */
export function mergeImageFeatures(embeds: { data: Float32Array; dim: number }, imagePositions: readonly number[], features: ImageFeatures): Float32Array {
  if (features.dim !== embeds.dim) {
    throw new AtmanError('MODEL_UNSUPPORTED', `The image encoder gives ${features.dim}-wide features; the decoder takes ${embeds.dim}-wide embeddings.`);
  }
  if (imagePositions.length !== features.rows) {
    throw new AtmanError(
      'IMAGE_TOKENS_MISMATCH',
      `The prompt holds ${imagePositions.length} image tokens but the image encoder returned ${features.rows} feature rows; the processor and the model do not match.`,
    );
  }
  const out = Float32Array.from(embeds.data);
  imagePositions.forEach((p, i) => out.set(features.data.subarray(i * features.dim, (i + 1) * features.dim), p * embeds.dim));
  return out;
}

export async function releaseVisionParts(parts: VisionParts | null): Promise<void> {
  if (!parts) return;
  await parts.encoder.release();
  await parts.embedTokens?.release();
}

function onesMask(pixelDims: readonly number[]): { data: Uint8Array; dims: number[] } {
  // [1, frames, 3, H, W] -> [1, frames, H, W]
  const dims = [pixelDims[0]!, pixelDims[1]!, pixelDims[3]!, pixelDims[4]!];
  return { data: new Uint8Array(dims.reduce((a, b) => a * b, 1)).fill(1), dims };
}
