// Writes the vision-language demo model's tokenizer: a GPT-2 byte-level BPE in which every word of
// the shapes task is one token (plus the 256 byte symbols and <|endoftext|>), then Idefics3's
// special tokens as added tokens, and vocab.json (piece text -> id) for train.py's word-level lookup.
//   npx tsx scripts/demo-vlm/make-tokenizer.ts [buildDir]     (default /tmp/atman-demo-vlm-build)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bytesToUnicode, gpt2TokenizerConfig, gpt2TokenizerFromWords } from '../fixtures/tokenizers';
import { TASK, taskWords } from './task';

export const DEFAULT_BUILD = '/tmp/atman-demo-vlm-build';
export const MAX_POSITIONS = 64;
export const FAKE_IMAGE_TOKEN = '<fake_token_around_image>';
export const GLOBAL_IMAGE_TOKEN = '<global-img>';
/** Idefics3's added tokens, in id order after <|endoftext|> */
export const SPECIAL_TOKENS = [FAKE_IMAGE_TOKEN, TASK.imageToken, TASK.endToken, GLOBAL_IMAGE_TOKEN] as const;

// The chat template maps one user turn (an image and a question) to the prompt the model was
// trained on; a template-driven caller then builds exactly promptFor(question).
const CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'user' %}" +
  "{% if message['content'] is string %}{{ message['content'] }}{% else %}" +
  "{% for line in message['content'] %}{% if line['type'] == 'image' %}{{ '<image>' }}" +
  "{% elif line['type'] == 'text' %}{{ line['text'] }}{% endif %}{% endfor %}{% endif %}" +
  "{% else %}{% if message['content'] is string %}{{ ' ' + message['content'] }}{% else %}" +
  "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ ' ' + line['text'] }}{% endif %}{% endfor %}{% endif %}" +
  "{{ '<end_of_utterance>' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '" + TASK.answerStem + "' }}{% endif %}";

export interface DemoTokenizer {
  tokenizer: { model: { vocab: Record<string, number> }; added_tokens: object[] };
  config: Record<string, unknown>;
  vocabSize: number;
  eosId: number;
  special: Record<string, number>;
  words: Record<string, number>;
}

export function demoTokenizer(): DemoTokenizer {
  const words = taskWords();
  const base = gpt2TokenizerFromWords(words);
  const tok = base.tokenizer as DemoTokenizer['tokenizer'];
  const { map } = bytesToUnicode();
  const enc = new TextEncoder();
  const lookup: Record<string, number> = {};
  for (const w of words) {
    const piece = [...enc.encode(w)].map((b) => map.get(b)!).join('');
    const id = tok.model.vocab[piece];
    if (id === undefined) throw new Error(`word ${JSON.stringify(w)} is not a single token`);
    lookup[w] = id;
  }
  const special: Record<string, number> = {};
  let next = base.vocabSize;
  for (const content of SPECIAL_TOKENS) {
    special[content] = next;
    tok.model.vocab[content] = next;
    tok.added_tokens.push({ id: next, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    next++;
  }
  const gpt2Config = gpt2TokenizerConfig(base.eosId) as Record<string, unknown>;
  const decoder = gpt2Config.added_tokens_decoder as Record<string, object>;
  for (const [content, id] of Object.entries(special)) {
    decoder[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  }
  const config = {
    ...gpt2Config,
    additional_special_tokens: [FAKE_IMAGE_TOKEN, TASK.imageToken, TASK.endToken],
    eos_token: TASK.endToken,
    pad_token: '<|endoftext|>',
    model_max_length: MAX_POSITIONS,
    chat_template: CHAT_TEMPLATE,
    processor_class: 'Idefics3Processor',
  };
  return { tokenizer: tok, config, vocabSize: next, eosId: special[TASK.endToken]!, special, words: lookup };
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

if (process.argv[1] && resolve(process.argv[1]).endsWith('make-tokenizer.ts')) {
  const dir = resolve(process.argv[2] ?? DEFAULT_BUILD);
  mkdirSync(dir, { recursive: true });
  const t = demoTokenizer();
  writeFileSync(join(dir, 'tokenizer.json'), json(t.tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), json(t.config));
  writeFileSync(
    join(dir, 'vocab.json'),
    json({ vocabSize: t.vocabSize, eosId: t.eosId, maxPositions: MAX_POSITIONS, special: t.special, words: t.words }),
  );
  console.log(`tokenizer: ${t.vocabSize} tokens, ${Object.keys(t.words).length} task words, special ${JSON.stringify(t.special)} -> ${dir}`);
}
