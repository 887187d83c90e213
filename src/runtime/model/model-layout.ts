// Which ONNX files a hub repository holds for each model family, as transformers.js names them
// (models/session_config.js): decoder-only models in one graph; vision-language models with image
// tokens in the decoder's own sequence (Idefics3 / SmolVLM: vision_encoder + embed_tokens +
// decoder_model_merged); encoder-decoder captioners (VisionEncoderDecoder: encoder_model +
// decoder_model_merged, the decoder cross-attending to the image).
import { AtmanError } from '../../core/errors';
import type { ModelConfig } from './model-config';

export type ModelLayout = 'causal' | 'image-text-to-text' | 'vision2seq';

/** Families whose image tokens sit in the decoder's sequence and whose processor this engine reads. */
const IN_SEQUENCE = new Set(['idefics3', 'smolvlm']);
/** Vision-language families transformers.js runs that need a processor or merge this engine lacks. */
const OTHER_VISION = new Set(['llava', 'llava_onevision', 'paligemma', 'florence2', 'qwen2_vl', 'qwen2_5_vl', 'qwen3_vl', 'gemma3', 'moondream1', 'lfm2_vl', 'mistral3', 'phi3_v']);

export function detectLayout(config: ModelConfig): ModelLayout {
  const type = config.modelType;
  if (IN_SEQUENCE.has(type)) return 'image-text-to-text';
  if (type === 'vision-encoder-decoder') return 'vision2seq';
  if (OTHER_VISION.has(type) && config.raw.vision_config) {
    throw new AtmanError(
      'MODEL_UNSUPPORTED',
      `${type} is a vision-language family this engine does not read yet; supported image models are Idefics3/SmolVLM and VisionEncoderDecoder captioners.`,
    );
  }
  return 'causal';
}

/**
 * ONNX file bases of a layout: the decoder that gets the control and the score head, the image
 * encoder (vision_encoder or encoder_model), and the token-embedding graph for decoders that take
 * inputs_embeds.
 */
export function layoutBases(layout: ModelLayout): { decoder: string; encoder: string | null; embedTokens: string | null } {
  switch (layout) {
    case 'causal':
      return { decoder: 'model', encoder: null, embedTokens: null };
    case 'image-text-to-text':
      return { decoder: 'decoder_model_merged', encoder: 'vision_encoder', embedTokens: 'embed_tokens' };
    case 'vision2seq':
      return { decoder: 'decoder_model_merged', encoder: 'encoder_model', embedTokens: null };
  }
}
