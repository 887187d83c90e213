// The linear character spans against the definition they replace (decode every prefix, take its
// growth), on the real tokenizers of the fixtures: byte-level BPE and SentencePiece-style BPE with
// byte fallback, on hand-picked and random unicode text.
import { readFileSync } from 'node:fs';
import * as transformers from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { charSpans } from './text-tokenizer';

type Tok = InstanceType<typeof transformers.PreTrainedTokenizer>;

function tokenizerOf(folder: string): Tok {
  const json: unknown = JSON.parse(readFileSync(`${folder}/tokenizer.json`, 'utf8'));
  const config = JSON.parse(readFileSync(`${folder}/tokenizer_config.json`, 'utf8')) as Record<string, unknown>;
  return new transformers.PreTrainedTokenizer(json, config);
}

/** The former definition: the growth of each decoded prefix (quadratic in the number of tokens). */
function prefixSpans(ids: number[], text: string, decode: (ids: number[]) => string): Array<[number, number]> | null {
  const prefixes: string[] = [''];
  for (let i = 1; i <= ids.length; i++) prefixes.push(decode(ids.slice(0, i)).replace(/\uFFFD+$/, ''));
  const full = prefixes[ids.length]!;
  const exact = full === text && prefixes.every((p, i) => i === 0 || p.startsWith(prefixes[i - 1]!) || text.startsWith(p));
  if (!exact) return null;
  const spans: Array<[number, number]> = [];
  let prev = 0;
  for (let i = 1; i <= ids.length; i++) {
    const end = Math.max(prev, Math.min(prefixes[i]!.length, text.length));
    spans.push([prev, end]);
    prev = end;
  }
  return spans;
}

const SAMPLES = [
  'The cat sat on the mat.',
  '  leading and trailing spaces  ',
  'e\u0301te\u0301 — cafe\u0301 (combining acute), a\u0308\u0304\u0301 stacked marks',
  'emoji 👋🏽 family 👨‍👩‍👧‍👦 flag 🇩🇪 keycap 1️⃣ end',
  'שלום עולם and مرحبا بالعالم mixed with English 123',
  'zero\u200bwidth\u200cjoiner\u200dand\u2060word joiner\ufeffBOM',
  'NUL\u0000inside\u0000text',
  '中文字符和日本語のテキスト、한국어',
  'tabs\tand\nnewlines\r\n\n\nparagraphs',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters and 🧑🏿‍🚀',
  'a',
  '\u00a0non-breaking\u2009thin\u3000ideographic spaces',
];

// Seeded, so a failure names a string that can be reproduced.
function randomText(seed: number, length: number): string {
  const pool = ['a', 'b', 'Z', ' ', '  ', '\n', '.', 'é', 'e\u0301', '\u0308', 'ß', '中', 'ש', 'ع', '👋', '🏽', '\u200d', '\u200b', '\u0000', '😀', '€', '\t', 'ﬁ', '1', '<', '>'];
  let x = seed * 2654435761;
  let out = '';
  while (out.length < length) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out += pool[x % pool.length];
  }
  return out;
}

for (const model of ['tiny-gpt2', 'tiny-llama', 'tiny-idefics3', 'tiny-llama-instruct']) {
  describe(`charSpans on ${model}`, () => {
    const tok = tokenizerOf(`fixtures/models/${model}`);
    const decode = (ids: number[]) => tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    const check = (text: string) => {
      const ids = tok.encode(text, { add_special_tokens: false }) as number[];
      const spans = charSpans(ids, text, decode);
      expect(spans).toHaveLength(ids.length);
      const reference = prefixSpans(ids, text, decode);
      if (reference) expect(spans, JSON.stringify(text)).toEqual(reference);
      // either way the spans tile the text in order
      let prev = 0;
      for (const [a, b] of spans) {
        expect(a).toBeGreaterThanOrEqual(prev);
        expect(b).toBeGreaterThanOrEqual(a);
        prev = b;
      }
      return reference !== null;
    };

    it('agrees with the prefix definition on hand-picked unicode', () => {
      const exact = SAMPLES.filter(check).length;
      // the fixtures' tokenizers reproduce these texts, so the exact path is what was compared
      expect(exact).toBeGreaterThanOrEqual(SAMPLES.length - 2);
    });

    it('agrees on 150 random strings', () => {
      let exact = 0;
      for (let seed = 1; seed <= 150; seed++) exact += check(randomText(seed, 5 + (seed % 60))) ? 1 : 0;
      console.log(`${model}: ${exact} of 150 random strings compared on the exact path`);
      expect(exact).toBeGreaterThan(0);
    });
  });
}

describe('charSpans edge cases', () => {
  const tok = tokenizerOf('fixtures/models/tiny-llama');
  const decode = (ids: number[]) => tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });

  it('gives a byte-fallback character to the token that completes it', () => {
    const text = 'x€y';
    const ids = tok.encode(text, { add_special_tokens: false }) as number[];
    const spans = charSpans(ids, text, decode);
    expect(spans.map(([a, b]) => text.slice(a, b)).join('')).toBe(text);
    expect(spans.some(([a, b]) => a === b)).toBe(true);
  });

  it('takes text that itself holds U+FFFD', () => {
    const text = 'a\uFFFD\uFFFDb\uFFFD';
    const ids = tok.encode(text, { add_special_tokens: false }) as number[];
    expect(charSpans(ids, text, decode).map(([a, b]) => text.slice(a, b)).join('')).toBe(text);
  });

  it('an empty list of tokens has no spans', () => {
    expect(charSpans([], '', decode)).toEqual([]);
  });
});
