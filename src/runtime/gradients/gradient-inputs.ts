// The input vectors x the input methods (input × gradient, integrated gradients) scale and score,
// one block per graph input they are fed through, each owning a run of columns:
//  - text-only models: the token-embedding rows of the sequence (before position embeddings);
//  - in-sequence vision models (Idefics3): the decoder's input embeddings, the image tokens' rows
//    being the image features merged in: columns 0..S-1, image units' columns among them;
//  - captioners: the token-embedding rows (columns 0..S-1) and the encoder output rows the decoder
//    cross-attends to (columns S..S+E-1, where AtMan puts its image columns too).
import { AtmanError } from '../../core/errors';
import type { AtmanModel } from '../atman/atman-model';
import type { Prepared } from '../atman/prepare';
import type { GradientSession } from './gradient-sessions';

export interface InputBlock {
  /** the graph input the block is fed through, and its gradient output */
  input: string;
  gradient: string;
  /** [rows, dim] row-major */
  data: Float32Array;
  rows: number;
  dim: number;
  /** the column of the block's first row */
  column: number;
}

export function inputBlocks(model: AtmanModel, g: GradientSession, p: Prepared): InputBlock[] {
  const S = p.ids.length;
  const embeds = p.context?.embeds;
  let first: Pick<InputBlock, 'data' | 'dim'>;
  if (embeds) first = { data: embeds.data.subarray(0, S * embeds.dim), dim: embeds.dim };
  else {
    const table = model.embeddings;
    if (!table) throw new AtmanError('MODEL_UNSUPPORTED', `The token-embedding table of ${model.id} was not found, so input × gradient and integrated gradients have no input vectors.`);
    const data = new Float32Array(S * table.dim);
    p.ids.forEach((id, i) => data.set(table.row(id), i * table.dim));
    first = { data, dim: table.dim };
  }
  const blocks: InputBlock[] = [{ input: g.embeddingsInput!, gradient: g.gradients[0]!, ...first, rows: S, column: 0 }];
  if (g.encoderInput) {
    const enc = p.context?.encoder;
    if (!enc) throw new AtmanError('IMAGE_REQUIRED', `${model.id} describes images: add an image to explain.`);
    blocks.push({ input: g.encoderInput, gradient: g.gradients[1]!, data: enc.data, rows: enc.dims[1], dim: enc.dims[2], column: S });
  }
  return blocks;
}
