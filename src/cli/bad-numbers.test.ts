// Bad numbers and bad output paths on the command line: each is a typed error in words, before
// the model loads (the model named here does not even exist, so reaching the load would fail
// differently), and one real process shows the exit code and the printed line.
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isAtmanError } from '../core/errors';
import { checkOutputFile, parseCliArgs } from './cli-args';
import { main as explainMain } from './explain';
import { main as steerMain, parseSteerFlags } from './steer';

const dir = mkdtempSync(join(tmpdir(), 'atman-cli-numbers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NO_MODEL = join(dir, 'no-such-model');
const base = ['--model', NO_MODEL, '--prompt', 'The cat sat.', '--target', ' It'];

async function refusal(run: Promise<number>): Promise<{ code: string; message: string }> {
  try {
    await run;
  } catch (e) {
    if (isAtmanError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('the command did not fail');
}

describe('explain refuses bad numbers before the model loads', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--batch-size', '0'], /^--batch-size must be a whole number from 1 to 1024 .*; got "0"\.$/],
    [['--batch-size', '-3'], /^--batch-size must be a whole number from 1 to 1024 .*; got "-3"\.$/],
    [['--batch-size', 'abc'], /^--batch-size must be a whole number .*; got "abc"\.$/],
    [['--batch-size', '1.5'], /^--batch-size must be a whole number .*; got "1\.5"\.$/],
    [['--factor', ''], /^--factor must be a number from 0 to 1000 .*; got nothing\.$/],
    [['--factor', '0x10'], /^--factor must be a number from 0 to 1000 .*; got "0x10"\.$/],
    [['--factor', '1e300'], /^--factor must be a number from 0 to 1000 .*; got "1e300"\.$/],
    [['--factor', '-1'], /^--factor must be a number from 0 to 1000 .*; got "-1"\.$/],
    [['--factor=-0.5'], /^--factor must be a number from 0 to 1000/],
    [['--kappa', '1.5'], /^--kappa \(or off\) must be a number from 0 to 1/],
    [['--layers', '0,x'], /^Each of --layers must be a whole number from 0 to 9999; got "x"\.$/],
    [['--layers', '1.5'], /^Each of --layers must be a whole number/],
    [['--region', '0,0,0x5,4'], /^--region takes LEFT,TOP,WIDTH,HEIGHT/],
  ];
  for (const [flags, message] of cases) {
    it(flags.join(' '), async () => {
      const e = await refusal(explainMain([...base, ...flags]));
      expect(e.code).toBe('BAD_SETTING');
      expect(e.message).toMatch(message);
    });
  }

  it('--generate 0, -1, 1.5 and "many" are typed errors', async () => {
    for (const n of ['0', '-1', '1.5', 'many']) {
      const e = await refusal(explainMain(['--model', NO_MODEL, '--prompt', 'The cat', '--generate', n]));
      expect(e).toMatchObject({ code: 'BAD_SETTING', message: expect.stringMatching(/^--generate must be a whole number from 1 to 4096/) });
    }
  });

  it('--json into a missing folder, or onto a folder, is refused before the run', async () => {
    const missing = join(dir, 'missing', 'out.json');
    const e = await refusal(explainMain([...base, '--json', missing]));
    expect(e).toMatchObject({ code: 'BAD_SETTING', message: expect.stringContaining(`the folder ${join(dir, 'missing')} does not exist`) });
    expect(() => checkOutputFile(dir, '--json')).toThrow(/that is a folder; name a file/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    expect(() => checkOutputFile(join(file, 'out.json'), '--json')).toThrow(/is not a folder/);
    expect(() => checkOutputFile(join(dir, 'ok.json'), '--json')).not.toThrow();
  });

  it('a flag without its value, or an unknown flag, is a typed error', async () => {
    expect(await refusal(explainMain([...base, '--factor']))).toMatchObject({ code: 'BAD_SETTING', message: expect.stringMatching(/--factor/) });
    expect(await refusal(explainMain([...base, '--fctor', '1']))).toMatchObject({ code: 'BAD_SETTING', message: 'Unknown option --fctor; run with --help for the list.' });
    expect(() => parseCliArgs(['--x', '-y'], { x: { type: 'string' } })).toThrow(/--x needs a value/);
  });
});

describe('steer refuses bad numbers before the model loads', () => {
  it('--max-new-tokens, factors, spans and token positions', async () => {
    const args = ['--model', NO_MODEL, '--prompt', 'The cat sat.', '--steer', 'cat=0'];
    for (const n of ['0', '-2', '2.5', '0x10', '']) {
      expect(await refusal(steerMain([...args, '--max-new-tokens', n]))).toMatchObject({ code: 'BAD_SETTING', message: expect.stringMatching(/^--max-new-tokens must be a whole number from 1 to 4096/) });
    }
    expect(await refusal(steerMain([...args, '--layers', '-1']))).toMatchObject({ code: 'BAD_SETTING', message: expect.stringMatching(/^Each of --layers must be/) });
    const steerErr = (flags: Parameters<typeof parseSteerFlags>[0]) => {
      try {
        parseSteerFlags(flags);
      } catch (e) {
        return (e as Error).message;
      }
      return null;
    };
    expect(steerErr({ steer: ['cat=1e300'] })).toMatch(/^The factor in --steer "cat=1e300" must be a number from 0 to 1000/);
    expect(steerErr({ steer: ['cat=0x2'] })).toMatch(/must be a number from 0 to 1000/);
    expect(steerErr({ steer: ['cat='] })).toMatch(/got nothing/);
    expect(steerErr({ 'steer-span': ['99999999999-99999999999=0'] })).toMatch(/^--steer-span START must be a whole number from 0 to 10000000/);
    expect(steerErr({ 'steer-tokens': ['1,99999999=0'] })).toMatch(/^Each --steer-tokens position must be a whole number/);
    expect(await refusal(steerMain([...args, '--json', join(dir, 'nope', 'x.json')]))).toMatchObject({ code: 'BAD_SETTING', message: expect.stringMatching(/does not exist/) });
  });
});

describe('a run whose outputs are not finite', () => {
  it('fails with NON_FINITE_SCORES instead of printing NaN (a model whose weights are all NaN)', async () => {
    const model = join(dir, 'nan-gpt2');
    cpSync('fixtures/models/tiny-gpt2-external', model, { recursive: true });
    copyFileSync('fixtures/models/tiny-gpt2-external/onnx/model.onnx', join(model, 'onnx/model.onnx'));
    const size = readFileSync(join(model, 'onnx/model.onnx_data')).length;
    const nan = new Float32Array(size / 4).fill(NaN);
    writeFileSync(join(model, 'onnx/model.onnx_data'), new Uint8Array(nan.buffer));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const json = join(dir, 'nan.json');
    try {
      const e = await refusal(explainMain(['--model', model, '--prompt', 'The cat sat.', '--target', ' The', '--kappa', 'off', '--no-self-check', '--json', json]));
      expect(e.code).toBe('NON_FINITE_SCORES');
      expect(e.message).toMatch(/^The model's outputs were not finite numbers \(NaN or infinity\) in \d+ of \d+ passes/);
      expect(out.mock.calls.map((c) => String(c[0])).join('')).not.toMatch(/NaN|null/);
    } finally {
      out.mockRestore();
    }
    expect(() => readFileSync(json)).toThrow();
  });
});

describe('the real command', () => {
  it('--batch-size 0 exits 1 at once with the typed sentence', async () => {
    const run = promisify(execFile);
    const e = await run('npx', ['tsx', 'src/cli/explain.ts', ...base, '--batch-size', '0'], { timeout: 60_000 }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(e?.code).toBe(1);
    expect(e?.stderr.trim()).toBe('error [BAD_SETTING]: --batch-size must be a whole number from 1 to 1024 (passes run together); got "0".');
  }, 90_000);
});
