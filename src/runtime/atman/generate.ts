// Greedy generation on the controlled model with every factor 1: what the playground's Generate
// and the CLI's --generate continue a prompt with, before anything is explained.
import { AtmanError } from '../../core/errors';
import { NUMBER_RULES, checkNumber } from '../../core/numbers';
import type { DecodedImage } from '../image/decode-image';
import { contextForGeneration, imagePrompt } from '../image/image-passes';
import { embedTokens } from '../image/vision-sessions';
import type { AtmanModel } from './atman-model';
import { stopIds, textPromptTokens } from '../model/chat-template';
import { floatData } from '../backends/tensor-data';
import { type DecoderContext, buildFeeds } from './feeds';

/**
 * Greedy continuation of the prompt (full recomputation per step, all factors 1), reading the image
 * when given. With the chat template (opts.chat, default on) the prompt is the user's turn and the
 * continuation the assistant's reply, ending before its end-of-turn token.
 */
export async function generateGreedy(
  model: AtmanModel,
  prompt: string,
  maxNewTokens: number,
  signal?: AbortSignal,
  image?: DecodedImage,
  opts: { chat?: boolean; onToken?: (generated: number) => void } = {},
): Promise<string> {
  const chat = opts.chat ?? true;
  checkNumber(maxNewTokens, NUMBER_RULES.generate);
  if (image && !model.vision) throw new AtmanError('BAD_SETTING', `${model.id} reads text only; remove the image or pick a vision-language model.`);
  if (!image && model.layout === 'vision2seq') throw new AtmanError('IMAGE_REQUIRED', `${model.id} describes images: add an image first.`);
  if (!prompt.trim() && model.layout !== 'vision2seq') throw new AtmanError('EMPTY_PROMPT', 'Type a prompt first.');
  let contextFor: ((ids: readonly number[]) => Promise<DecoderContext>) | null = null;
  let ids: number[];
  if (image) {
    const p = await imagePrompt(model, prompt, image);
    ids = p.tokens.map((t) => t.id);
    contextFor = await contextForGeneration(model, p);
  } else {
    ids = textPromptTokens(model, prompt, chat).map((t) => t.id);
    if (model.vision?.embedTokens) contextFor = async (xs) => ({ embeds: await embedTokens(model.vision!, model.backend, xs) });
  }
  const first = ids.length;
  const eos = stopIds(model, chat);
  const { session, inputs } = model.current;
  for (let step = 0; step < maxNewTokens && ids.length < model.config.maxPositions; step++) {
    if (signal?.aborted) throw new AtmanError('CANCELLED', 'Generation cancelled.');
    const context = contextFor ? await contextFor(ids) : undefined;
    // Only the last row goes through the LM head.
    const feeds = buildFeeds(inputs, model.config, model.backend.Tensor, { ids, batch: 1, factors: null, targetRows: [ids.length - 1], targetIds: [0], ...(context ? { context } : {}) });
    const out = await session.run(feeds, ['logits']);
    const logits = out.logits!;
    const V = logits.dims[2]!;
    const data = await floatData(logits);
    let best = 0;
    for (let v = 1; v < V; v++) if (data[v]! > data[best]!) best = v;
    logits.dispose?.();
    if (eos.has(best)) break;
    ids.push(best);
    opts.onToken?.(ids.length - first);
  }
  // The tokenizer refuses to decode nothing (the model may stop at once).
  return ids.length > first ? model.tokenizer.decode(ids.slice(first)) : '';
}

