// Writes the demo model's tokenizer: a GPT-2 byte-level BPE in which every word of the task is
// one token (plus the 256 byte symbols and <|endoftext|>), and vocab.json (piece text -> id)
// for train.py's word-level lookup.
//   npx tsx scripts/demo-model/make-tokenizer.ts [buildDir]     (default /tmp/atman-demo-build)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bytesToUnicode, gpt2TokenizerConfig, gpt2TokenizerFromWords } from '../fixtures/tokenizers';
import { taskWords } from './task';

export const DEFAULT_BUILD = '/tmp/atman-demo-build';
export const MAX_POSITIONS = 64;

export function demoTokenizer(): { tokenizer: { model: { vocab: Record<string, number> } }; config: object; vocabSize: number; eosId: number; words: Record<string, number> } {
  const words = taskWords();
  const { tokenizer, vocabSize, eosId } = gpt2TokenizerFromWords(words);
  const tok = tokenizer as { model: { vocab: Record<string, number> } };
  const { map } = bytesToUnicode();
  const enc = new TextEncoder();
  const lookup: Record<string, number> = {};
  for (const w of words) {
    const piece = [...enc.encode(w)].map((b) => map.get(b)!).join('');
    const id = tok.model.vocab[piece];
    if (id === undefined) throw new Error(`word ${JSON.stringify(w)} is not a single token`);
    lookup[w] = id;
  }
  const config = { ...gpt2TokenizerConfig(eosId), model_max_length: MAX_POSITIONS };
  return { tokenizer: tok, config, vocabSize, eosId, words: lookup };
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

if (process.argv[1] && resolve(process.argv[1]).endsWith('make-tokenizer.ts')) {
  const dir = resolve(process.argv[2] ?? DEFAULT_BUILD);
  mkdirSync(dir, { recursive: true });
  const t = demoTokenizer();
  writeFileSync(join(dir, 'tokenizer.json'), json(t.tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), json(t.config));
  writeFileSync(join(dir, 'vocab.json'), json({ vocabSize: t.vocabSize, eosId: t.eosId, maxPositions: MAX_POSITIONS, words: t.words }));
  console.log(`tokenizer: ${t.vocabSize} tokens, ${Object.keys(t.words).length} task words, eos ${t.eosId} -> ${dir}`);
}
