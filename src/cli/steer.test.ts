import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isAtmanError } from '../core/errors';
import { main, parseSteerFlags, splitFactor } from './steer';

const dir = mkdtempSync(join(tmpdir(), 'atman-steer-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PROMPT = 'The cat sat on the mat. The dog ran to the cat.';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return isAtmanError(e) ? e.code : `not typed: ${(e as Error).message}`;
  }
  return undefined;
};

describe('steering flags', () => {
  it('reads TEXT=FACTOR at the last "=", spans and token positions', () => {
    expect(splitFactor('a=b=2.5', '--steer')).toEqual({ what: 'a=b', factor: 2.5 });
    expect(splitFactor('x=0', '--steer')).toEqual({ what: 'x', factor: 0 });
    expect(splitFactor('x=.5', '--steer').factor).toBe(0.5);
    expect(parseSteerFlags({ steer: ['the cat=0'], 'steer-span': ['4-7=2'], 'steer-tokens': ['1, 2=0.5'] })).toEqual([
      { text: 'the cat', factor: 0 },
      { span: [4, 7], factor: 2 },
      { positions: [1, 2], factor: 0.5 },
    ]);
  });

  it('refuses unreadable flags with typed errors', () => {
    expect(codeOf(() => splitFactor('cat', '--steer'))).toBe('BAD_SETTING');
    expect(codeOf(() => splitFactor('cat=', '--steer'))).toBe('BAD_SETTING');
    expect(codeOf(() => splitFactor('cat=lots', '--steer'))).toBe('BAD_SETTING');
    expect(codeOf(() => parseSteerFlags({ steer: ['=1'] }))).toBe('BAD_SETTING');
    expect(codeOf(() => parseSteerFlags({ 'steer-span': ['4to7=1'] }))).toBe('BAD_SETTING');
    expect(codeOf(() => parseSteerFlags({ 'steer-tokens': ['a,b=1'] }))).toBe('BAD_SETTING');
  });
});

describe('npm run steer (in process)', () => {
  it('--no-chat steers the raw prompt of a chat model; by default the prompt is the user turn', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const read = async (...flags: string[]) => {
      const file = join(dir, `instruct${flags.join('')}.json`);
      expect(await main(['--model', 'fixtures/models/tiny-llama-instruct', '--prompt', PROMPT, '--steer', 'cat=0', '--max-new-tokens', '2', '--json', file, ...flags])).toBe(0);
      return JSON.parse(readFileSync(file, 'utf8')) as { promptTokens: Array<{ template?: boolean }>; units: Array<{ positions: number[] }> };
    };
    const chat = await read();
    const raw = await read('--no-chat');
    out.mockRestore();
    const templated = chat.promptTokens.filter((t) => t.template).length;
    expect(templated).toBeGreaterThan(10);
    expect(raw.promptTokens.some((t) => t.template)).toBe(false);
    expect(chat.promptTokens.length).toBe(raw.promptTokens.length + templated);
    // "cat" is found in the user's text either way; with the template its tokens sit after the template's prefix
    expect(chat.units[0]!.positions.every((p) => !chat.promptTokens[p]!.template)).toBe(true);
    expect(chat.units[0]!.positions.length).toBe(raw.units[0]!.positions.length);
  });

  for (const model of ['tiny-gpt2', 'tiny-llama']) {
    it(`${model}: prints both generations and writes the documented JSON`, async () => {
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      const file = join(dir, `${model}.json`);
      const code = await main([
        '--model', `fixtures/models/${model}`, '--prompt', PROMPT, '--steer', 'cat=0', '--steer', 'dog=2.5',
        '--max-new-tokens', '4', '--json', file,
      ]);
      const printed = out.mock.calls.map((c) => String(c[0])).join('');
      out.mockRestore();
      expect(code).toBe(0);
      expect(printed).toMatch(/^unsteered: /m);
      expect(printed).toMatch(/^steered: {3}/m);
      expect(printed).toMatch(/"cat" x 0 {2}\(tokens \d+,\d+; 2 occurrences\)/);
      const x = JSON.parse(readFileSync(file, 'utf8'));
      expect(x).toMatchObject({ schemaVersion: 1, prompt: PROMPT, mode: 'multiplicative', layers: null, maxNewTokens: 4 });
      expect(x.units.map((u: { label: string; factor: number }) => [u.label, u.factor])).toEqual([['cat', 0], ['dog', 2.5]]);
      for (const run of [x.steered, x.unsteered]) {
        expect(run.tokens.length).toBeGreaterThan(0);
        expect(run.tokens.length).toBeLessThanOrEqual(4);
        expect(['eos', 'max-new-tokens', 'max-positions']).toContain(run.stop);
        for (const t of run.tokens) {
          expect(t.probability).toBeGreaterThan(0);
          expect(t.probability).toBeLessThanOrEqual(1);
          expect(Object.keys(t)).toEqual(expect.arrayContaining(['id', 'text', 'probability', 'other']));
        }
      }
      expect(x.model).toMatchObject({ id: `fixtures/models/${model}`, backend: 'cpu' });
    });
  }

  it('refuses a bad mode before loading the model', async () => {
    await expect(main(['--model', 'no/such-model', '--prompt', 'x', '--steer', 'x=0', '--mode', 'sideways'])).rejects.toMatchObject({
      name: 'AtmanError',
      code: 'BAD_SETTING',
    });
  });

  it('prints usage and exits 2 without anything to steer', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['--model', 'fixtures/models/tiny-gpt2', '--prompt', 'x'])).toBe(2);
    expect(String(err.mock.calls[0]![0])).toMatch(/usage: npm run steer/);
    err.mockRestore();
  });
});

describe('npm run steer (spawned)', () => {
  const run = promisify(execFile);
  const tsx = join('node_modules', '.bin', 'tsx');

  it('runs end to end on tiny-gpt2', async () => {
    const file = join(dir, 'spawned.json');
    const { stdout } = await run(tsx, ['src/cli/steer.ts', '--model', 'fixtures/models/tiny-gpt2', '--prompt', PROMPT,
      '--steer-tokens', '1=0', '--steer-span', '8-11=3', '--max-new-tokens', '3', '--mode', 'log-additive', '--json', file]);
    expect(stdout).toMatch(/step {2}unsteered token/);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.mode).toBe('log-additive');
    // --steer, then --steer-span, then --steer-tokens
    expect(x.units[0]).toMatchObject({ label: 'sat', factor: 3, spans: [[8, 11]] });
    expect(x.units[1]).toMatchObject({ positions: [1], factor: 0, spans: null });
    expect(x.steered.tokens).toHaveLength(x.steered.stop === 'eos' ? x.steered.ids.length + 1 : 3);
  });

  it('exits 1 with a typed message for text not in the prompt', async () => {
    const err = await run(tsx, ['src/cli/steer.ts', '--model', 'fixtures/models/tiny-gpt2', '--prompt', PROMPT, '--steer', 'zebra=0']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/error \[BAD_SETTING\]: "zebra" does not occur in the prompt/);
  });
});
