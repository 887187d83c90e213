// The image half of an explanation: the processor's pixels through the image encoder, the image
// tokens placed where the model reads them, and one column per image token for the control.
//   - In-sequence models (Idefics3 / SmolVLM): the prompt's '<image>' becomes the processor's token
//     string; image-feature rows replace those tokens' embeddings; image columns are sequence
//     positions, controlled in every decoder self-attention layer.
//   - Captioners (VisionEncoderDecoder): the decoder starts from its start token and cross-attends
//     to the encoder output; image columns are the encoder positions, numbered after the S sequence
//     columns, controlled in every decoder cross-attention layer.
import { AtmanError } from '../../core/errors';
import type { Rect, TokenRegion, FrameInfo } from '../../core/image-regions';
import { type ImageShape, type ImageUnit, buildImageUnits, buildRegionUnit, imageGranularityFor } from '../../core/image-units';
import type { ExplainSettings, TokenInfo } from '../../core/types';
import type { AtmanModel } from '../atman/atman-model';
import type { DecoderContext } from '../atman/feeds';
import type { DecodedImage } from './decode-image';
import { IDEFICS3_TOKENS, type ProcessedImage } from './image-processor';
import { type ImageFeatures, embedTokens, encodeImage, mergeImageFeatures } from './vision-sessions';

export interface ImageRequest {
  image: DecodedImage;
  /** shapes the user drew, each explained as one unit next to the grid units */
  regions?: ImageShape[];
}

/** What an explanation says about its image, for drawing scores over it. */
export interface ExplainedImage {
  width: number;
  height: number;
  format: string;
  /** where the image tokens sit: in the decoder's sequence, or in the encoder output the decoder cross-attends to */
  placement: 'sequence' | 'encoder';
  frames: FrameInfo[];
  /** every image token in order, with the control column it occupies and the original-image region it covers */
  tokens: Array<{ column: number; frame: string; row: number; col: number; region: Rect }>;
}

export interface ImagePrompt {
  /** the prompt the token spans refer to (an in-sequence model's prompt always holds '<image>') */
  prompt: string;
  tokens: TokenInfo[];
  /** [from, to) token run the processor inserted, markers included; null for captioners */
  inserted: [number, number] | null;
  processed: ProcessedImage;
}

const MARKER = IDEFICS3_TOKENS.image;

/** Tokenises the prompt around the image the way the model's processor lays it out. */
export async function imagePrompt(model: AtmanModel, prompt: string, image: DecodedImage): Promise<ImagePrompt> {
  const vision = model.vision!;
  const processed = await vision.processor.process(image.image);
  if (vision.layout === 'vision2seq') {
    const start = decoderStartId(model);
    const startToken: TokenInfo = { id: start, text: model.tokenizer.decode([start]) || '<start>', start: 0, end: 0, role: 'prompt', special: true };
    const rest = prompt.trim() === '' ? [] : model.tokenizer.encodePrompt(prompt);
    return { prompt, tokens: [startToken, ...rest], inserted: null, processed };
  }
  const count = prompt.split(MARKER).length - 1;
  if (count > 1) throw new AtmanError('BAD_SETTING', `The prompt holds ${count} ${MARKER} markers; one image per prompt is supported.`);
  const withMarker = count === 1 ? prompt : MARKER + prompt;
  const at = withMarker.indexOf(MARKER);
  const { tokens, inserted } = model.tokenizer.encodePromptWithInsert(withMarker, at, MARKER.length, processed.promptFragment!);
  return { prompt: withMarker, tokens, inserted, processed };
}

/** Sequence positions of the image tokens inside the inserted run. */
export function imagePositions(model: AtmanModel, p: ImagePrompt): number[] {
  if (!p.inserted) return [];
  const id = imageTokenId(model);
  const out: number[] = [];
  for (let i = p.inserted[0]; i < p.inserted[1]; i++) if (p.tokens[i]!.id === id) out.push(i);
  return out;
}

export interface ImageContext {
  context: DecoderContext;
  /** control column of each image token */
  columns: number[];
  /** extra columns after the S sequence columns (encoder positions) */
  encoderLength: number;
  /** input vectors of every column, for conceptual suppression: [S + encoderLength] rows, grouped by space */
  similarityRows: Array<{ rows: Float32Array | null; dim: number; count: number }>;
}

function runEncoder(model: AtmanModel, p: ImagePrompt): Promise<ImageFeatures> {
  const pixels = {
    data: p.processed.pixelValues,
    dims: p.processed.dims,
    ...(p.processed.pixelAttentionMask ? { attentionMask: { data: p.processed.pixelAttentionMask, dims: p.processed.pixelAttentionMaskDims! } } : {}),
  };
  return encodeImage(model.vision!, model.backend, pixels);
}

/** The decoder context for a growing sequence (generation): the encoder runs once. */
export async function contextForGeneration(model: AtmanModel, p: ImagePrompt): Promise<(ids: readonly number[]) => Promise<DecoderContext>> {
  const vision = model.vision!;
  const features = await runEncoder(model, p);
  if (vision.layout === 'vision2seq') {
    const encoder = { data: features.data, dims: [1, features.rows, features.dim] as [number, number, number] };
    return async () => ({ encoder });
  }
  const positions = imagePositions(model, p);
  return async (ids) => {
    const embeds = await embedTokens(vision, model.backend, ids);
    return { embeds: { data: mergeImageFeatures(embeds, positions, checkRows(features, positions.length)), dim: embeds.dim } };
  };
}

/** Runs the image encoder once and builds what every pass reads. `ids` is the whole sequence. */
export async function imageContext(model: AtmanModel, p: ImagePrompt, ids: readonly number[]): Promise<ImageContext> {
  const vision = model.vision!;
  const features = await runEncoder(model, p);
  if (vision.layout === 'vision2seq') {
    const S = ids.length;
    const table = model.embeddings;
    const textRows = table ? rowsOf(ids, table) : null;
    return {
      context: { encoder: { data: features.data, dims: [1, features.rows, features.dim] } },
      columns: Array.from({ length: features.rows }, (_, i) => S + i),
      encoderLength: features.rows,
      similarityRows: [
        { rows: textRows, dim: table?.dim ?? 0, count: S },
        { rows: features.data, dim: features.dim, count: features.rows },
      ],
    };
  }
  const positions = imagePositions(model, p).filter((x) => x < ids.length);
  const embeds = await embedTokens(vision, model.backend, ids);
  const merged = mergeImageFeatures(embeds, positions, checkRows(features, positions.length));
  return {
    context: { embeds: { data: merged, dim: embeds.dim } },
    columns: positions,
    encoderLength: 0,
    similarityRows: [{ rows: merged, dim: embeds.dim, count: ids.length }],
  };
}

/** Grid units (by the text granularity's image counterpart) and the user's drawn regions. */
export function imageUnits(p: ImagePrompt, columns: number[], image: ImageRequest, settings: ExplainSettings): ImageUnit[] {
  const tokens = { positions: columns, regions: p.processed.tokenRegions, imageSize: p.processed.originalSize, imageIndex: 0 };
  const granularity = imageGranularityFor(settings.granularity);
  const grid = granularity ? buildImageUnits(tokens, granularity) : [];
  const drawn = (image.regions ?? []).map((shape, i) =>
    buildRegionUnit(tokens, shape, { tokenOverlap: settings.tokenOverlap, label: `drawn region ${i + 1}` }),
  );
  return [...grid, ...drawn];
}

export function describeImage(p: ImagePrompt, image: DecodedImage, columns: number[], placement: ExplainedImage['placement']): ExplainedImage {
  return {
    width: image.width,
    height: image.height,
    format: image.format,
    placement,
    frames: p.processed.frames,
    tokens: p.processed.tokenRegions.map((t: TokenRegion, i) => ({ column: columns[i]!, frame: t.frame, row: t.row, col: t.col, region: t.region })),
  };
}

function checkRows(features: ImageFeatures, expected: number): ImageFeatures {
  if (features.rows < expected) {
    throw new AtmanError('IMAGE_TOKENS_MISMATCH', `The image encoder returned ${features.rows} feature rows for ${expected} image tokens.`);
  }
  return features;
}

function rowsOf(ids: readonly number[], table: NonNullable<AtmanModel['embeddings']>): Float32Array {
  const out = new Float32Array(ids.length * table.dim);
  ids.forEach((id, i) => out.set(table.row(id), i * table.dim));
  return out;
}

export function imageTokenId(model: AtmanModel): number {
  const raw = model.config.raw;
  const id = raw.image_token_id ?? raw.image_token_index;
  if (typeof id !== 'number') throw new AtmanError('MODEL_UNSUPPORTED', 'config.json does not name the image token (image_token_id).');
  return id;
}

export function decoderStartId(model: AtmanModel): number {
  const raw = model.config.raw;
  const dec = (raw.decoder ?? {}) as Record<string, unknown>;
  const id = raw.decoder_start_token_id ?? dec.decoder_start_token_id ?? dec.bos_token_id ?? raw.bos_token_id;
  if (typeof id !== 'number') throw new AtmanError('MODEL_UNSUPPORTED', 'config.json does not name the decoder start token (decoder_start_token_id).');
  return id;
}
