// The chat template on the instruct fixture (a ChatML template, as SmolLM2 / Qwen2.5 use): the
// sequence is transformers.js' own, template tokens are marked and never units, and the feature
// changes nothing but the sequence and the units.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, LlamaTokenizer, env, type Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, tensorPayload, DataType } from '../../graph/ir/onnx-ir';
import { makeTensor } from '../../graph/ir/onnx-build';
import { AtmanModel } from '../atman/atman-model';
import { explain } from '../atman/explain';
import { generateGreedy } from '../atman/generate';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { measureFaithfulness } from '../compare/faithfulness';
import { nextTokenProbabilities, steer } from '../atman/steer';
import { wrapTokenizer } from './text-tokenizer';

const MODELS = 'fixtures/models';
const INSTRUCT = `${MODELS}/tiny-llama-instruct`;
const backend = createNodeBackend({ threads: 1 });
const PROMPT = 'The capital of France is';
const TARGET = ' Paris is a big city';

type HfTok = Awaited<ReturnType<typeof AutoTokenizer.from_pretrained>>;
let hf: HfTok;
let model: AtmanModel;
const render = (content: string): string => hf.apply_chat_template([{ role: 'user', content }], { tokenize: false, add_generation_prompt: true }) as string;

beforeAll(async () => {
  env.localModelPath = `${process.cwd()}/${MODELS}/`;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  hf = await AutoTokenizer.from_pretrained('tiny-llama-instruct');
  model = await AtmanModel.load(folderSource(INSTRUCT), backend);
});
afterAll(() => model.release());

describe('the templated sequence', () => {
  const messages = [PROMPT, '  two  spaces and a trailing one ', 'café 日本 🤖!\nnew line', 'a', 'user'];
  it.each(messages)('equals apply_chat_template for %j', (message) => {
    const tokens = model.tokenizer.chat!.encodeUserTurn(message);
    const expected = hf.apply_chat_template([{ role: 'user', content: message }], { tokenize: true, add_generation_prompt: true, return_tensor: false, return_dict: false }) as number[];
    expect(tokens.map((t) => t.id)).toEqual(expected);
    // the user's tokens carry exactly the characters typed, in order, with spans in the message
    const own = tokens.filter((t) => t.role === 'prompt');
    expect(own.map((t) => t.text).join('')).toBe(message);
    for (const t of own) expect(message.slice(t.start, t.end)).toBe(t.text);
    // the template's own tokens: before the message at 0, after it at its length, empty spans
    const first = tokens.findIndex((t) => t.role === 'prompt');
    const last = tokens.length - 1 - [...tokens].reverse().findIndex((t) => t.role === 'prompt');
    tokens.forEach((t, i) => {
      if (i >= first && i <= last) expect(t.role).toBe('prompt');
      else expect(t).toMatchObject({ role: 'template', start: i < first ? 0 : message.length, end: i < first ? 0 : message.length });
    });
    // it ends with the generation prompt, the assistant header
    expect(tokens.slice(-3).map((t) => t.text).join('')).toBe('<|im_start|>assistant\n');
  });

  it('stops generation at the end-of-turn token', () => {
    expect(model.tokenizer.chat!.endOfTurnIds).toContain(hf.convert_tokens_to_ids('<|im_end|>'));
    // config.json names only <|endoftext|>: the end of turn comes from the tokenizer and generation_config
    expect(model.config.eosTokenIds).not.toContain(hf.convert_tokens_to_ids('<|im_end|>'));
  });

  it('models without a template have none', async () => {
    const base = await AtmanModel.load(folderSource(`${MODELS}/tiny-gpt2`), backend);
    try {
      expect(base.tokenizer.chat).toBeNull();
      const on = await explain(base, { prompt: PROMPT, target: TARGET, settings: { chat: true } });
      const off = await explain(base, { prompt: PROMPT, target: TARGET, settings: { chat: false } });
      expect(on.tokens).toEqual(off.tokens);
      expect(on.units.map((u) => u.score)).toEqual(off.units.map((u) => u.score));
    } finally {
      await base.release();
    }
  });
});

describe('other template shapes', () => {
  // A SentencePiece-style tokenizer (the tiny-llama fixture's) under a template that writes BOS
  // itself and trims the message, as Llama 2 / Mistral / Llama 3 templates do.
  const TRIMMING =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}{% endif %}{% endfor %}";
  const llama = () => {
    const dir = `${MODELS}/tiny-llama`;
    const config = { ...JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')), chat_template: TRIMMING };
    const tok = new LlamaTokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), config);
    return { tok, ours: wrapTokenizer(tok) };
  };

  it.each(['The cat sat', '  the cat sat on the mat  ', 'Hello world'])('follows a trimming template on a SentencePiece tokenizer: %j', (message) => {
    const { tok, ours } = llama();
    const tokens = ours.chat!.encodeUserTurn(message);
    const expected = tok.apply_chat_template([{ role: 'user', content: message }], { tokenize: true, add_generation_prompt: true, return_tensor: false, return_dict: false }) as number[];
    expect(tokens.map((t) => t.id)).toEqual(expected);
    expect(tokens[0]).toMatchObject({ id: 1, role: 'template', special: true });
    const own = tokens.filter((t) => t.role === 'prompt');
    expect(own.map((t) => message.slice(t.start, t.end)).join('')).toBe(message.trim());
    expect(own[0]!.start).toBe(message.length - message.trimStart().length);
    for (const t of own) expect(t.text).toBe(message.slice(t.start, t.end));
    // the template's tail sits after the whole typed message, trimmed spaces included
    expect(tokens.at(-1)).toMatchObject({ role: 'template', start: message.length, end: message.length });
    // a tokenizer config without a template has none
    expect(wrapTokenizer(new LlamaTokenizer(JSON.parse(readFileSync(`${MODELS}/tiny-llama/tokenizer.json`, 'utf8')), {})).chat).toBeNull();
  });

  it('refuses a template that rewrites the message, in words', () => {
    const dir = `${MODELS}/tiny-llama`;
    const config = { ...JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')), chat_template: "{% for message in messages %}{{ message['content'] | upper }}{% endfor %}" };
    const ours = wrapTokenizer(new LlamaTokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), config));
    expect(() => ours.chat!.encodeUserTurn('the cat')).toThrow(expect.objectContaining({ code: 'TOKENIZER_FAILED', message: expect.stringMatching(/rewrites the prompt.*turn the chat template off/) }));
  });
});

describe('explaining the assistant reply', () => {
  for (const mode of ['multiplicative', 'log-additive'] as const) {
    it(`marks template tokens, keeps them out of units, and scores as the same sequence without the feature (${mode})`, async () => {
      const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { mode, targetGranularity: 'token' } });
      const prompt = x.tokens.filter((t) => t.role === 'prompt');
      const template = x.tokens.filter((t) => t.role === 'template');
      const target = x.tokens.filter((t) => t.role === 'target');
      expect(template.length).toBeGreaterThan(10);
      expect(prompt.map((t) => t.text).join('')).toBe(PROMPT);
      expect(target.map((t) => t.text).join('')).toBe(TARGET);
      // the target is the reply alone: no end-of-turn token in it
      expect(target.every((t) => !t.special)).toBe(true);
      expect(x.prompt).toBe(PROMPT);
      expect(x.settings.chat).toBe(true);
      const templatePositions = new Set(x.tokens.flatMap((t, i) => (t.role === 'template' ? [i] : [])));
      expect(x.units.every((u) => u.positions.every((p) => !templatePositions.has(p)))).toBe(true);
      // one unit per user token, then the target-token units
      expect(x.units).toHaveLength(prompt.length + target.length - 1);
      expect(x.passes).toBe(x.units.length + 1);

      // Without the feature: the rendered text as a raw prompt gives the same ids; chunks over the
      // user's tokens (shifted by the template's prefix) give the same units.
      const rendered = render(PROMPT);
      const before = rendered.indexOf(PROMPT);
      const ownPositions = x.tokens.flatMap((t, i) => (t.role === 'prompt' ? [i] : []));
      const chunks = ownPositions.map((i): [number, number] => [x.tokens[i]!.start + before, x.tokens[i]!.end + before]);
      const y = await explain(model, { prompt: rendered, target: TARGET, settings: { mode, chat: false, targetGranularity: 'token', granularity: { kind: 'chunks', chunks } } });
      expect(y.tokens.map((t) => t.id)).toEqual(x.tokens.map((t) => t.id));
      expect(y.units.map((u) => u.positions)).toEqual(x.units.map((u) => u.positions));
      expect(y.baseline.crossEntropy).toEqual(x.baseline.crossEntropy);
      for (let u = 0; u < x.units.length; u++) {
        expect(y.units[u]!.factors).toEqual(x.units[u]!.factors);
        x.units[u]!.perTarget.forEach((r, t) => expect(Math.abs(r - y.units[u]!.perTarget[t]!)).toBeLessThan(1e-6));
      }
    });
  }

  it('faithfulness curves run on the templated sequence the explanation used', async () => {
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { kappa: null } });
    const f = await measureFaithfulness(model, x, { randomRuns: 1 });
    expect(f.deletion).toHaveLength(x.units.length + 1);
    expect(f.deletion[0]).toBeCloseTo(f.insertion.at(-1)!, 6);
    // the same explanation read as raw text names other tokens: refused in words
    await expect(measureFaithfulness(model, { ...x, settings: { ...x.settings, chat: false } })).rejects.toMatchObject({ message: expect.stringMatching(/tokens differ/) });
  });

  it('word units come from the user message alone', async () => {
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { granularity: { kind: 'word' }, kappa: null } });
    expect(x.units.map((u) => u.label)).toEqual(['The', 'capital', 'of', 'France', 'is']);
  });

  it('chat off reads the prompt as raw text (the behaviour without templates)', async () => {
    const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { chat: false } });
    expect(x.tokens.some((t) => t.role === 'template')).toBe(false);
    expect(x.tokens.filter((t) => t.role === 'prompt').map((t) => t.id)).toEqual(model.tokenizer.encodePrompt(PROMPT).map((t) => t.id));
    expect(x.settings.chat).toBe(false);
  });
});

describe('generation ends with the assistant turn', () => {
  let dir = '';
  let stopping: AtmanModel;
  let imEnd = 0;
  let plain: number[] = [];

  // A copy of the fixture whose LM head gives <|im_end|> 1.5 times the logit of the token the
  // plain model produces at step 3: the model then ends its turn at or before that step.
  beforeAll(async () => {
    imEnd = hf.convert_tokens_to_ids('<|im_end|>') as number;
    const ids = model.tokenizer.chat!.encodeUserTurn(PROMPT).map((t) => t.id);
    for (let step = 0; step < 6; step++) {
      const { logits } = await nextTokenProbabilities(model, [...ids, ...plain], null);
      plain.push(argmax(logits));
    }
    expect(plain).not.toContain(imEnd);
    const third = plain[2]!;
    dir = mkdtempSync(join(tmpdir(), 'atman-instruct-'));
    cpSync(INSTRUCT, dir, { recursive: true });
    const m = decodeModel(readFileSync(join(INSTRUCT, 'onnx/model.onnx')));
    const head = m.graph.initializers.find((t) => t.name === 'lm_head.MatMul.weight')!;
    const [E, V] = head.dims.map(Number) as [number, number];
    const raw = tensorPayload(head).rawData!;
    const w = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    for (let e = 0; e < E; e++) w[e * V + imEnd] = 1.5 * w[e * V + third]!;
    m.graph.initializers = m.graph.initializers.map((t) => (t === head ? makeTensor(head.name, DataType.FLOAT, [E, V], w) : t));
    writeFileSync(join(dir, 'onnx/model.onnx'), encodeModel(m));
    stopping = await AtmanModel.load(folderSource(dir), backend);
  });
  afterAll(async () => {
    await stopping?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops at <|im_end|> and leaves it out of the target', async () => {
    const ids = stopping.tokenizer.chat!.encodeUserTurn(PROMPT).map((t) => t.id);
    const greedy: number[] = [];
    for (let step = 0; step < 6; step++) {
      const { logits } = await nextTokenProbabilities(stopping, [...ids, ...greedy], null);
      greedy.push(argmax(logits));
    }
    const end = greedy.indexOf(imEnd);
    expect(end).toBeGreaterThanOrEqual(0);
    expect(end).toBeLessThanOrEqual(2);
    const text = await generateGreedy(stopping, PROMPT, 6);
    expect(text).toBe(end === 0 ? '' : stopping.tokenizer.decode(greedy.slice(0, end)));
    // steering with factor 1 stops at the same place, and marks the end of turn as the end
    const r = await steer(stopping, { prompt: PROMPT, units: [{ text: 'France', factor: 1 }], maxNewTokens: 6 });
    expect(r.steered.stop).toBe('eos');
    expect(r.steered.ids).toEqual(greedy.slice(0, end));
    expect(r.steered.tokens.at(-1)).toMatchObject({ id: imEnd, eos: true, text: '' });
    expect(r.promptTokens.filter((t) => t.template).length).toBeGreaterThan(10);
    // transformers.js' own generate() on the same copy (its eos from generation_config) ends the same reply
    env.localModelPath = `${dirname(dir)}/`;
    const tjs = await AutoModelForCausalLM.from_pretrained(basename(dir), { device: 'cpu', dtype: 'fp32' });
    try {
      const input = hf.apply_chat_template([{ role: 'user', content: PROMPT }], { add_generation_prompt: true, return_dict: true }) as unknown as Record<string, Tensor>;
      const out = (await tjs.generate({ ...input, max_new_tokens: 6, do_sample: false })) as Tensor;
      const all = Array.from(out.data as BigInt64Array, Number);
      expect(all.slice(0, ids.length)).toEqual(ids);
      expect(all.slice(ids.length)).toEqual(greedy.slice(0, end + 1));
    } finally {
      await tjs.dispose();
      env.localModelPath = `${process.cwd()}/${MODELS}/`;
    }
    // without the template the prompt is raw text and nothing names the turn's end
    const raw = await steer(stopping, { prompt: PROMPT, units: [{ text: 'France', factor: 1 }], maxNewTokens: 2, chat: false });
    expect(raw.promptTokens.some((t) => t.template)).toBe(false);
  });
});

function argmax(x: Float32Array): number {
  let best = 0;
  for (let v = 1; v < x.length; v++) if (x[v]! > x[best]!) best = v;
  return best;
}
