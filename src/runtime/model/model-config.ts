// The few config.json facts the engine needs, read the way each architecture names them.
import { AtmanError } from '../../core/errors';

export interface ModelConfig {
  modelType: string;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  maxPositions: number;
  eosTokenIds: number[];
  raw: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

const num = (o: Record<string, unknown>, ...keys: string[]): number | undefined => {
  for (const k of keys) if (typeof o[k] === 'number') return o[k] as number;
  return undefined;
};

export function parseModelConfig(json: unknown): ModelConfig {
  if (!json || typeof json !== 'object') throw new AtmanError('MODEL_UNSUPPORTED', 'config.json is not a JSON object.');
  const top = json as Record<string, unknown>;
  // Multimodal configs keep the language model's facts in text_config; encoder-decoder ones in decoder.
  const sub = isObject(top.text_config) ? top.text_config : top.model_type === 'vision-encoder-decoder' && isObject(top.decoder) ? top.decoder : null;
  const c = (sub ? { ...top, ...sub, model_type: top.model_type } : top) as Record<string, unknown>;
  const numLayers = num(c, 'num_hidden_layers', 'n_layer', 'num_layers', 'n_layers');
  const numHeads = num(c, 'num_attention_heads', 'n_head', 'num_heads');
  const hiddenSize = num(c, 'hidden_size', 'n_embd', 'd_model');
  const vocabSize = num(c, 'vocab_size');
  if (!numLayers || !numHeads || !hiddenSize || !vocabSize) {
    throw new AtmanError('MODEL_UNSUPPORTED', 'config.json lacks the layer count, head count, hidden size or vocabulary size this engine needs.');
  }
  const eos = c.eos_token_id;
  return {
    modelType: String(c.model_type ?? 'unknown'),
    numLayers,
    numHeads,
    numKvHeads: num(c, 'num_key_value_heads', 'n_head_kv', 'num_kv_heads') ?? numHeads,
    headDim: num(c, 'head_dim') ?? hiddenSize / numHeads,
    hiddenSize,
    vocabSize,
    maxPositions: num(c, 'max_position_embeddings', 'n_positions', 'n_ctx', 'seq_length') ?? 2048,
    eosTokenIds: Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [],
    raw: top,
  };
}
