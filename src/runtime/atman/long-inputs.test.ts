// Texts too long for the model are refused before the expensive work: by their character count
// when no text that long can fit the position table, by their token count before the character
// spans are worked out otherwise, and by the prompt and target together last. Times are printed,
// not asserted (they depend on the machine).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as transformers from '@huggingface/transformers';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeBackend } from '../backends/node-backend';
import { decodeImage } from '../image/decode-image';
import { maxCharsPerToken } from '../model/text-tokenizer';
import { folderSource } from '../sources/folder-source';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { generateGreedy } from './generate';
import { steer } from './steer';

const MODELS = resolve('fixtures/models');
const load = (name: string) => AtmanModel.load(folderSource(`${MODELS}/${name}`), createNodeBackend(), { selfCheck: false });
const sample = 'The quick brown fox jumps over the lazy dog; naïve café 👋🏽 שלום. ';
const text = (chars: number) => sample.repeat(Math.ceil(chars / sample.length)).slice(0, chars);

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    console.log(`${label}: ${(performance.now() - t0).toFixed(1)} ms`);
  }
}

describe('long inputs on tiny-gpt2 (128 positions)', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await load('tiny-gpt2');
  });
  afterAll(() => model.release());

  it('a 500 kB prompt is TOO_LONG by its character count, before tokenisation', async () => {
    const prompt = text(500_000);
    const message = await timed('500,000-character prompt refused', () => expectCode(explain(model, { prompt, target: ' the end' }), 'TOO_LONG'));
    expect(message).toMatch(/^The prompt is 500,000 characters long; this model reads at most 128 tokens, which never hold more than [\d,]+ characters of text\. Shorten it\.$/);
    await expectCode(explain(model, { prompt: 'The cat', target: text(500_000) }), 'TOO_LONG', /^The target is 500,000 characters long/);
    await expectCode(generateGreedy(model, prompt, 4), 'TOO_LONG', /^The prompt is 500,000 characters/);
    await expectCode(steer(model, { prompt, units: [{ text: 'fox', factor: 0 }], maxNewTokens: 2 }), 'TOO_LONG', /^The prompt is 500,000 characters/);
  });

  it('a prompt under the character bound but over the position table is TOO_LONG by its token count', async () => {
    const prompt = 'x '.repeat(200);
    expect(prompt.length).toBeLessThan(128 * 13);
    await expectCode(explain(model, { prompt, target: 'y' }), 'TOO_LONG', /^The prompt is \d+ tokens long; this model reads at most 128\. Shorten it\.$/);
  });

  it('texts that fit alone but not together get the combined sentence', async () => {
    const prompt = 'x '.repeat(40);
    const target = ' y'.repeat(40);
    await expectCode(explain(model, { prompt, target }), 'TOO_LONG', /^Prompt and target together are \d+ tokens; this model reads at most 128\.$/);
  });

  it('empty and whitespace texts are still EMPTY_PROMPT / EMPTY_TARGET, and unicode still runs', async () => {
    await expectCode(explain(model, { prompt: ' \n\t ', target: 'x' }), 'EMPTY_PROMPT');
    await expectCode(explain(model, { prompt: 'x', target: '\u3000 ' }), 'EMPTY_TARGET');
    const r = await explain(model, { prompt: 'e\u0301 👨‍👩‍👧 שלום\u200b\u0000!', target: ' ok' });
    expect(r.units.length).toBeGreaterThan(0);
    for (const t of r.tokens.filter((x) => x.role === 'prompt')) expect(t.end).toBeLessThanOrEqual(r.prompt.length);
  });
});

describe('long inputs through a chat template and an image prompt', () => {
  it('tiny-llama-instruct: the chat path refuses 500 kB by characters', async () => {
    const model = await load('tiny-llama-instruct');
    try {
      await timed('500,000-character chat prompt refused', () => expectCode(explain(model, { prompt: text(500_000), target: ' ok' }), 'TOO_LONG', /^The prompt is 500,000 characters long/));
      await expectCode(explain(model, { prompt: 'x '.repeat(200), target: ' ok' }), 'TOO_LONG', /tokens long; this model reads at most/);
    } finally {
      await model.release();
    }
  });

  it('tiny-idefics3: a prompt beside an image is refused the same way', async () => {
    const model = await load('tiny-idefics3');
    try {
      const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 40, b: 10 } } }).png().toBuffer();
      const image = await decodeImage(new Uint8Array(png), { filename: 'red.png' });
      await expectCode(explain(model, { prompt: text(500_000), target: ' ok', image: { image } }), 'TOO_LONG', /^The prompt is 500,0\d\d characters long/);
    } finally {
      await model.release();
    }
  });
});

describe('maxCharsPerToken', () => {
  const tok = (normalizer: unknown) =>
    new transformers.PreTrainedTokenizer(
      { ...(JSON.parse(readFileSync(`${MODELS}/tiny-gpt2/tokenizer.json`, 'utf8')) as object), normalizer },
      JSON.parse(readFileSync(`${MODELS}/tiny-gpt2/tokenizer_config.json`, 'utf8')),
    );
  it('is the longest vocabulary entry, three times that under NFC, and unbounded where a normalizer may delete', () => {
    const plain = maxCharsPerToken(tok(null), { normalizer: null });
    expect(plain).toBe(13); // "<|endoftext|>"
    expect(maxCharsPerToken(tok(null), { normalizer: { type: 'NFC' } })).toBe(39);
    expect(maxCharsPerToken(tok(null), { normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] } })).toBe(13);
    expect(maxCharsPerToken(tok(null), { normalizer: { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' } })).toBe(Infinity);
    expect(maxCharsPerToken(tok(null), { normalizer: { type: 'StripAccents' } })).toBe(Infinity);
  });
});
