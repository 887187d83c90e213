// Tokenisation with character spans. transformers.js does the tokenising; it
// does not return offsets, so spans come from decoding growing prefixes.
import * as transformers from '@huggingface/transformers';
import { AtmanError } from '../../core/errors';
import type { TokenInfo } from '../../core/types';
import type { ModelSource } from '../sources/model-source';
import { type ChatTemplate, chatTemplateOf } from './chat-template';

type HfTokenizer = InstanceType<typeof transformers.PreTrainedTokenizer>;

export interface TextTokenizer {
  /** the prompt with whatever special tokens the tokenizer adds (BOS...) */
  encodePrompt(text: string): TokenInfo[];
  /** the target with no special tokens */
  encodeTarget(text: string): TokenInfo[];
  /**
   * The prompt with `insert` (an image's token string) in place of text[at, at + length), tokenised
   * as one string the way the model's processor does. The inserted tokens come back as one run
   * `inserted` = [from, to) of special tokens spanning the replaced characters; the others keep
   * spans in `text`.
   */
  encodePromptWithInsert(text: string, at: number, length: number, insert: string): { tokens: TokenInfo[]; inserted: [number, number] };
  decode(ids: number[]): string;
  eosIds: number[];
  /** the model's chat template (tokenizer_config.json `chat_template`), or null */
  chat: ChatTemplate | null;
}

/**
 * How long a text the model can take at all, so that a text far too long is refused before the
 * tokenizer spends seconds on it (encoding is linear but slow: ~1-9 s for 500,000 characters).
 */
export interface TokenizerLimits {
  /** no text of more tokens than this can be read (the model's position table) */
  maxTokens: number;
}

export async function loadTokenizer(source: ModelSource, limits?: TokenizerLimits): Promise<TextTokenizer> {
  const dec = new TextDecoder();
  let json: unknown;
  let config: Record<string, unknown>;
  let generation: unknown = null;
  try {
    json = JSON.parse(dec.decode(await source.read('tokenizer.json')));
    config = (await source.has('tokenizer_config.json'))
      ? JSON.parse(dec.decode(await source.read('tokenizer_config.json')))
      : {};
  } catch (e) {
    if (e instanceof AtmanError) throw e;
    throw new AtmanError('TOKENIZER_FAILED', `The tokenizer files of ${source.id} are not valid JSON: ${(e as Error).message}`);
  }
  // Where an instruct model names the end of its turn, next to tokenizer_config's eos_token; an
  // unreadable file only loses that hint.
  try {
    if (config.chat_template && (await source.has('generation_config.json'))) generation = JSON.parse(dec.decode(await source.read('generation_config.json')));
  } catch {
    generation = null;
  }
  let tok: HfTokenizer;
  try {
    const name = String(config.tokenizer_class ?? 'PreTrainedTokenizer').replace(/Fast$/, '');
    const classes = transformers as unknown as Record<string, new (j: unknown, c: unknown) => HfTokenizer>;
    const Cls = classes[name] ?? transformers.PreTrainedTokenizer;
    tok = new Cls(json, config);
  } catch (e) {
    throw new AtmanError('TOKENIZER_FAILED', `The tokenizer of ${source.id} could not be built: ${(e as Error).message}`);
  }
  const eos = generation && typeof generation === 'object' ? (generation as { eos_token_id?: unknown }).eos_token_id : undefined;
  const eosIds = Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [];
  return wrapTokenizer(tok, eosIds, limits ? { ...limits, charsPerToken: maxCharsPerToken(tok, json) } : undefined);
}

/**
 * The most characters of input one token can stand for, or Infinity when the tokenizer's
 * normalizer may delete characters (then no character count bounds the tokens). A vocabulary
 * entry is at least as long as the UTF-16 text it decodes to (byte-level BPE spells each byte as
 * one character, SentencePiece a space as one "▁", a fallback byte as "<0xNN>"); NFC and NFKC
 * compose at most three characters into one (Hangul jamo).
 */
export function maxCharsPerToken(tok: HfTokenizer, json: unknown): number {
  let longest = 1;
  try {
    const vocab = tok.get_vocab() as unknown as Map<string, number> | Record<string, number>;
    for (const key of vocab instanceof Map ? vocab.keys() : Object.keys(vocab)) longest = Math.max(longest, key.length);
  } catch {
    return Infinity;
  }
  const kinds: string[] = [];
  const walk = (n: unknown): void => {
    if (!n || typeof n !== 'object') return;
    const o = n as { type?: unknown; normalizers?: unknown; content?: unknown; pattern?: { String?: unknown } };
    if (Array.isArray(o.normalizers)) o.normalizers.forEach(walk);
    else if (typeof o.type !== 'string') return;
    // Replacing one character by at least one keeps the length; a regex or a longer string may shrink it.
    else if (o.type === 'Replace') {
      const from = o.pattern?.String;
      kinds.push(typeof from === 'string' && typeof o.content === 'string' && from.length <= o.content.length ? 'Replace' : 'Shrink');
    } else kinds.push(o.type);
  };
  walk((json as { normalizer?: unknown } | null)?.normalizer);
  // Anything else (Strip, StripAccents, BertNormalizer, Precompiled, unknown kinds) may delete characters.
  const keepsLength = new Set(['Prepend', 'Replace', 'Lowercase', 'NFD', 'NFKD']);
  const composes = new Set(['NFC', 'NFKC']);
  if (!kinds.every((k) => keepsLength.has(k) || composes.has(k))) return Infinity;
  return kinds.some((k) => composes.has(k)) ? 3 * longest : longest;
}

export function wrapTokenizer(tok: HfTokenizer, generationEos: number[] = [], limits?: TokenizerLimits & { charsPerToken: number }): TextTokenizer {
  const maxTokens = limits?.maxTokens ?? Infinity;
  const maxChars = maxTokens * (limits?.charsPerToken ?? Infinity);
  const fmt = (n: number) => n.toLocaleString('en');
  // First by characters (free), then by token count (before the spans are worked out).
  const checkChars = (text: string, what: string): void => {
    if (text.length > maxChars) {
      throw new AtmanError(
        'TOO_LONG',
        `The ${what} is ${fmt(text.length)} characters long; this model reads at most ${fmt(maxTokens)} tokens, which never hold more than ${fmt(maxChars)} characters of text. Shorten it.`,
        { characters: text.length, maxCharacters: maxChars, maxTokens },
      );
    }
  };
  const checkCount = (ids: readonly number[], what: string): void => {
    if (ids.length > maxTokens) {
      throw new AtmanError('TOO_LONG', `The ${what} is ${fmt(ids.length)} tokens long; this model reads at most ${fmt(maxTokens)}. Shorten it.`, { tokens: ids.length, maxTokens });
    }
  };
  const specialIds = new Set<number>((tok as unknown as { all_special_ids?: number[] }).all_special_ids ?? []);
  const addedSpecial = (tok as unknown as { added_tokens?: Array<{ id: number; special: boolean }> }).added_tokens ?? [];
  for (const t of addedSpecial) if (t.special) specialIds.add(t.id);
  const decode = (ids: number[]): string =>
    tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  const encode = (text: string, addSpecial: boolean): number[] => {
    try {
      return tok.encode(text, { add_special_tokens: addSpecial }) as number[];
    } catch (e) {
      throw new AtmanError('TOKENIZER_FAILED', `The tokenizer failed on this text: ${(e as Error).message}`);
    }
  };
  const build = (text: string, role: TokenInfo['role'], addSpecial: boolean): TokenInfo[] => {
    checkChars(text, role);
    const ids = encode(text, addSpecial);
    checkCount(ids, role);
    return describe(ids, text, role);
  };
  const describe = (ids: number[], text: string, role: TokenInfo['role']): TokenInfo[] => {
    // Special tokens the tokenizer adds (BOS, EOS) have no characters in the text.
    const isAdded = ids.map((id) => specialIds.has(id));
    const plain = ids.filter((_, i) => !isAdded[i]);
    const spans = charSpans(plain, text, decode);
    let k = 0;
    return ids.map((id, i) => {
      if (isAdded[i]) {
        const at = k === 0 ? 0 : spans[k - 1]![1];
        return { id, text: decode([id]), start: at, end: at, role, special: true };
      }
      const [start, end] = spans[k++]!;
      return { id, text: text.slice(start, end), start, end, role, special: false };
    });
  };
  const eosId = (tok as unknown as { eos_token_id?: number }).eos_token_id;
  const encodePromptWithInsert = (text: string, at: number, length: number, insert: string) => {
    checkChars(text, 'prompt');
    const ids = encode(text.slice(0, at) + insert + text.slice(at + length), true);
    const run = encode(insert, false);
    checkCount(ids, 'prompt');
    const from = indexOfRun(ids, run);
    if (from < 0) throw new AtmanError('TOKENIZER_FAILED', 'The image tokens did not survive tokenisation of the prompt as one run.');
    const to = from + run.length;
    // The text around the insert is described against the prompt without the replaced characters.
    const outside = describe([...ids.slice(0, from), ...ids.slice(to)], text.slice(0, at) + text.slice(at + length), 'prompt').map((t) =>
      t.start >= at && !(t.special && t.start === at && t.end === at && ids.indexOf(t.id) < from) ? { ...t, start: t.start + length, end: t.end + length } : t,
    );
    const inserted: TokenInfo[] = run.map((id) => ({ id, text: decode([id]), start: at, end: at + length, role: 'prompt', special: true }));
    return { tokens: [...outside.slice(0, from), ...inserted, ...outside.slice(from)], inserted: [from, to] as [number, number] };
  };
  return {
    encodePromptWithInsert,
    encodePrompt: (text) => build(text, 'prompt', true),
    encodeTarget: (text) => build(text, 'target', false),
    decode: (ids) => tok.decode(ids, { skip_special_tokens: true }),
    eosIds: typeof eosId === 'number' ? [eosId] : [],
    chat: withLengthChecks(
      chatTemplateOf(tok, decode, (ids, text, dec) => (checkCount(ids, 'prompt'), charSpans(ids, text, dec)), generationEos),
      (message) => checkChars(message, 'prompt'),
    ),
  };
}

function withLengthChecks(chat: ChatTemplate | null, checkChars: (message: string) => void): ChatTemplate | null {
  if (!chat) return null;
  return {
    ...chat,
    encodeUserTurn: (message) => {
      checkChars(message);
      return chat.encodeUserTurn(message);
    },
  };
}

/**
 * The tokenizer, refusing text that becomes a token the model has no row for. Some exports ship a
 * tokenizer larger than the model (tiny test models keep the full GPT-2 tokenizer over a
 * 1000-token vocabulary); an id past the table would otherwise fail deep inside a pass, or read
 * whatever lies beyond it.
 */
export function withinVocabulary(tok: TextTokenizer, vocabSize: number): TextTokenizer {
  const check = (tokens: TokenInfo[]): TokenInfo[] => {
    const bad = tokens.find((t) => !(t.id >= 0 && t.id < vocabSize));
    if (bad) {
      throw new AtmanError(
        'TOKEN_OUT_OF_VOCABULARY',
        `The tokenizer turns ${JSON.stringify(bad.text)} into token ${bad.id}, but this model only reads tokens 0 to ${vocabSize - 1} (its tokenizer knows more tokens than the model has). Rephrase without that word.`,
      );
    }
    return tokens;
  };
  return {
    ...tok,
    encodePrompt: (text) => check(tok.encodePrompt(text)),
    encodeTarget: (text) => check(tok.encodeTarget(text)),
    encodePromptWithInsert: (text, at, length, insert) => {
      const r = tok.encodePromptWithInsert(text, at, length, insert);
      check(r.tokens);
      return r;
    },
  };
}

/** Tokens a span window may hold back waiting for a character to complete before it gives up. */
const MAX_PENDING_TOKENS = 32;

/**
 * Character span of each token in `text`: how much the decoded text grows with it.
 * A token ending inside a multi-byte character decodes with U+FFFD; such a token gets no
 * characters, and the one that completes the character gets them. When decoding does not
 * reproduce the text (normalising tokenizers), pieces are found left to right.
 *
 * Linear in the number of tokens: each token is decoded in a short window that starts one
 * committed token back (so a decoder that drops the leading space of the first token it sees,
 * as SentencePiece's does, drops it from the context, not from the new text), and only the
 * growth of that window is new text. Decoding every prefix instead made a long prompt quadratic.
 */
export function charSpans(ids: number[], text: string, decode: (ids: number[]) => string): Array<[number, number]> {
  const n = ids.length;
  const ends: number[] = new Array<number>(n);
  // window: ids[from, i]; context = decode(ids[from, read]), already committed before the window's new text
  let from = 0;
  let read = 0;
  let context = '';
  let emitted = 0; // characters after the context already committed
  let pos = 0; // characters of `text` committed
  let exact = true;
  for (let i = 1; i <= n && exact; i++) {
    const full = decode(ids.slice(from, i));
    const stuck = i - read > MAX_PENDING_TOKENS;
    // A trailing U+FFFD is a character cut in half, unless waiting longer is pointless.
    const cur = stuck ? full : full.replace(/\uFFFD+$/, '');
    if (!cur.startsWith(context)) {
      exact = false;
      break;
    }
    const piece = cur.slice(context.length + emitted);
    if (piece.length > 0) {
      if (!text.startsWith(piece, pos)) {
        exact = false;
        break;
      }
      pos += piece.length;
      emitted += piece.length;
    }
    ends[i - 1] = pos;
    if (cur === full) {
      // Everything up to token i is settled: it becomes the next window's context.
      from = read;
      read = i;
      context = decode(ids.slice(from, read));
      emitted = 0;
    }
  }
  if (exact && n > 0 && pos < text.length) {
    // What a last, incomplete character left pending (the text itself may end in U+FFFD).
    const rest = decode(ids.slice(from, n)).slice(context.length + emitted);
    if (rest.length > 0 && text.startsWith(rest, pos)) pos = ends[n - 1] = pos + rest.length;
  }
  if (exact && pos === text.length) {
    const spans: Array<[number, number]> = [];
    let prev = 0;
    for (let i = 0; i < n; i++) {
      spans.push([prev, ends[i]!]);
      prev = ends[i]!;
    }
    return spans;
  }
  return alignPieces(ids.map((id) => decode([id])), text);
}

function alignPieces(pieces: string[], text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let cursor = 0;
  for (const piece of pieces) {
    const core = piece.replace(/^[\s\u2581]+|[\s\u2581]+$/g, '').replace(/\uFFFD/g, '');
    const at = core ? text.indexOf(core, cursor) : -1;
    if (at < 0) {
      spans.push([cursor, cursor]);
      continue;
    }
    // Leading whitespace belongs to the token that carries it (" cat").
    let start = at;
    while (start > cursor && /\s/.test(text[start - 1]!)) start--;
    spans.push([start, at + core.length]);
    cursor = at + core.length;
  }
  return spans;
}

function indexOfRun(ids: readonly number[], run: readonly number[]): number {
  outer: for (let i = 0; i + run.length <= ids.length; i++) {
    for (let j = 0; j < run.length; j++) if (ids[i + j] !== run[j]) continue outer;
    return i;
  }
  return -1;
}
