// Instruction-tuned models answer sensibly only inside their chat template. With one, the prompt is
// the user's message inside the template, up to and including the assistant header (what
// transformers.js' apply_chat_template writes with add_generation_prompt), and the target is the
// assistant's reply after it. The text is rendered and tokenised exactly as apply_chat_template
// does it (render, then encode without adding special tokens), so the ids are the model's own.
// Tokens that carry the user's characters keep spans in the text the user typed; the template's own
// tokens get role 'template' and an empty span where they stand (0 before the message, its length
// after it).
import type * as transformers from '@huggingface/transformers';
import { AtmanError } from '../../core/errors';
import type { TokenInfo } from '../../core/types';

type HfTokenizer = InstanceType<typeof transformers.PreTrainedTokenizer>;

export interface ChatTemplate {
  /** the templated sequence for one user message, ending with the assistant header */
  encodeUserTurn(message: string): TokenInfo[];
  /** tokens that end the assistant's turn: generation stops there and never keeps them */
  endOfTurnIds: number[];
}

// End-of-turn tokens of the common templates (ChatML, Llama 3, Gemma, Phi-3), used when the
// tokenizer has them as special tokens; the model's own eos tokens count too.
const END_OF_TURN_TOKENS = ['<|im_end|>', '<|eot_id|>', '<end_of_turn>', '<|end|>'];

// Stands in for the message to find where the template puts it; plain letters, so no template
// filter (trim, escaping) touches it.
const PLACEHOLDER = 'ATMANUSERMESSAGEPLACEHOLDER';

/** The chat template of a tokenizer whose config has one; null otherwise. */
export function chatTemplateOf(
  tok: HfTokenizer,
  /** decodes ids with special tokens kept and no clean-up */
  decodeRaw: (ids: number[]) => string,
  charSpans: (ids: number[], text: string, decode: (ids: number[]) => string) => Array<[number, number]>,
  /** eos ids from generation_config.json */
  generationEos: number[] = [],
): ChatTemplate | null {
  const t = (tok as unknown as { chat_template?: unknown }).chat_template;
  const has = typeof t === 'string' ? t.trim() !== '' : !!t && typeof t === 'object' && Object.keys(t).length > 0;
  if (!has) return null;
  const specialIds = new Set<number>((tok as unknown as { all_special_ids?: number[] }).all_special_ids ?? []);
  const specialTokens = (tok as unknown as { all_special_tokens?: string[] }).all_special_tokens ?? [];

  const render = (content: string): string => {
    try {
      return tok.apply_chat_template([{ role: 'user', content }], { tokenize: false, add_generation_prompt: true }) as string;
    } catch (e) {
      throw new AtmanError('TOKENIZER_FAILED', `The model's chat template could not be applied (${(e as Error).message}); turn the chat template off to read the prompt as raw text.`);
    }
  };
  // Rendered afresh each time: templates may stamp today's date (Llama 3 does).
  const frameOf = () => {
    const r = render(PLACEHOLDER);
    const at = r.indexOf(PLACEHOLDER);
    if (at < 0 || r.indexOf(PLACEHOLDER, at + 1) >= 0) {
      throw new AtmanError('TOKENIZER_FAILED', "The model's chat template does not write the user's message once as given; turn the chat template off.");
    }
    return { before: r.slice(0, at), after: r.slice(at + PLACEHOLDER.length) };
  };

  const encodeUserTurn = (message: string): TokenInfo[] => {
    const { before, after } = frameOf();
    const rendered = render(message);
    const fits = rendered.length >= before.length + after.length && rendered.startsWith(before) && rendered.endsWith(after);
    const written = fits ? rendered.slice(before.length, rendered.length - after.length) : null;
    // Templates may trim the message (Llama 3 does); its characters are then found inside what was typed.
    const offset = written === null ? -1 : written === message ? 0 : message.indexOf(written);
    if (written === null || offset < 0) {
      throw new AtmanError('TOKENIZER_FAILED', "The model's chat template rewrites the prompt, so its tokens cannot be traced back to your text; turn the chat template off.");
    }
    let ids: number[];
    try {
      ids = tok.encode(rendered, { add_special_tokens: false }) as number[];
    } catch (e) {
      throw new AtmanError('TOKENIZER_FAILED', `The tokenizer failed on the templated prompt: ${(e as Error).message}`);
    }
    const spans = charSpans(ids, rendered, decodeRaw);
    const [a, b] = [before.length, before.length + written.length];
    return ids.map((id, i): TokenInfo => {
      const [s, e] = spans[i]!;
      const inside = s === e ? s > a && s < b : s < b && e > a;
      if (inside) {
        const start = Math.max(s, a) - a + offset;
        const end = Math.min(e, b) - a + offset;
        return { id, text: message.slice(start, end), start, end, role: 'prompt', special: specialIds.has(id) };
      }
      const at = e <= a ? 0 : message.length;
      return { id, text: rendered.slice(s, e) || decodeRaw([id]), start: at, end: at, role: 'template', special: specialIds.has(id) };
    });
  };

  const vocabIds = END_OF_TURN_TOKENS.filter((x) => specialTokens.includes(x)).map((x) => tok.convert_tokens_to_ids(x) as number);
  const eos = (tok as unknown as { eos_token_id?: number }).eos_token_id;
  const endOfTurnIds = [...new Set([...(typeof eos === 'number' ? [eos] : []), ...generationEos, ...vocabIds])].filter((x) => Number.isInteger(x) && x >= 0);
  return { encodeUserTurn, endOfTurnIds };
}

interface ChatModel {
  tokenizer: { chat: ChatTemplate | null; encodePrompt(text: string): TokenInfo[]; eosIds: number[] };
  config: { eosTokenIds: number[] };
  /** vision-language models keep their processor's own prompt format */
  vision?: unknown;
}

/** The template a text run uses: the setting asks for it, the model has one and reads text only. */
export const chatFor = (model: ChatModel, chat: boolean): ChatTemplate | null => (chat && !model.vision ? model.tokenizer.chat : null);

/** The prompt's tokens: the user's turn inside the chat template, or the raw text as the tokenizer reads it. */
export function textPromptTokens(model: ChatModel, prompt: string, chat: boolean): TokenInfo[] {
  const template = chatFor(model, chat);
  return template ? template.encodeUserTurn(prompt) : model.tokenizer.encodePrompt(prompt);
}

/** Tokens that end a generation: the model's eos tokens, and the template's end of turn when it is used. */
export function stopIds(model: ChatModel, chat: boolean): Set<number> {
  return new Set([...model.config.eosTokenIds, ...model.tokenizer.eosIds, ...(chatFor(model, chat)?.endOfTurnIds ?? [])]);
}
