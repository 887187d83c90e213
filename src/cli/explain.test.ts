import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from './explain';

const dir = mkdtempSync(join(tmpdir(), 'atman-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run explain', () => {
  const runs: Array<[string, string]> = [
    ['tiny-gpt2', 'multiplicative'],
    ['tiny-gpt2', 'log-additive'],
    ['tiny-gpt2-external', 'multiplicative'],
    ['tiny-llama', 'multiplicative'],
    ['tiny-llama', 'log-additive'],
    ['tiny-llama-sdpa', 'multiplicative'],
    ['tiny-llama-gqa', 'multiplicative'],
    ['tiny-llama-gqa', 'log-additive'],
    ['tiny-qwen2-builder', 'multiplicative'],
  ];
  for (const [model, mode] of runs) {
    it(`${model} ${mode}: prints the prompt with scores and writes the documented JSON`, async () => {
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      const file = join(dir, `${model}-${mode}.json`);
      const code = await main([
        '--model', `fixtures/models/${model}`, '--prompt', 'The cat sat on the mat.', '--target', ' The cat',
        '--mode', mode, '--granularity', 'word', '--json', file,
      ]);
      const printed = out.mock.calls.map((c) => String(c[0])).join('');
      out.mockRestore();
      expect(code).toBe(0);
      expect(printed).toMatch(/\[The\|[+-]\d/);
      const x = JSON.parse(readFileSync(file, 'utf8'));
      expect(x.schemaVersion).toBe(1);
      expect(x.sign).toMatch(/positive means the unit is evidence/);
      expect(x.settings).toMatchObject({ mode, factor: 0.1, kappa: 0.7, granularity: { kind: 'word' } });
      expect(x.model).toMatchObject({ id: `fixtures/models/${model}`, dtype: 'fp32', backend: 'cpu' });
      expect(x.units.map((u: { label: string }) => u.label)).toEqual(expect.arrayContaining(['The', 'cat', 'sat', 'on', 'the', 'mat', '.']));
      for (const t of x.tokens) expect(Object.keys(t)).toEqual(expect.arrayContaining(['id', 'text', 'start', 'end', 'role']));
      for (const u of x.units) {
        expect(u.positions.every((p: number) => p >= 0 && p < x.tokens.length)).toBe(true);
        expect(u.perTarget).toHaveLength(x.tokens.filter((t: { role: string }) => t.role === 'target').length);
      }
      expect(x.passes).toBe(x.units.length + 1);
      expect(x.seconds).toBeGreaterThan(0);
    });
  }

  it('--attention picks the fused or the rewritten attention, and the JSON says which ran', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const run = async (attention: string) => {
      const file = join(dir, `attention-${attention}.json`);
      const args = ['--model', 'fixtures/models/tiny-llama-gqa', '--prompt', 'The cat sat on the mat.', '--target', ' The cat', '--mode', 'log-additive'];
      const code = await main([...args, '--attention', attention, '--json', file]);
      return { code, x: code === 0 ? JSON.parse(readFileSync(file, 'utf8')) : null };
    };
    const fused = await run('fused');
    const decomposed = await run('decomposed');
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await expect(run('fast')).rejects.toThrow(/--attention takes auto, fused, decomposed, not "fast"/);
    err.mockRestore();
    out.mockRestore();
    expect(fused.x.run.attention).toMatch(/^fused 2 GroupQueryAttention, log-additive through the attention_bias input/);
    expect(decomposed.x.run.attention).toMatch(/^2 GroupQueryAttention rewritten as standard ops \(as asked\)/);
    fused.x.units.forEach((u: { score: number }, i: number) => expect(Math.abs(u.score - decomposed.x.units[i].score)).toBeLessThan(1e-5));
  });

  it('generates the target with --generate', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = join(dir, 'gen.json');
    const code = await main(['--model', 'fixtures/models/tiny-llama', '--prompt', 'The cat', '--generate', '3', '--kappa', 'off', '--json', file]);
    out.mockRestore();
    expect(code).toBe(0);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.tokens.filter((t: { role: string }) => t.role === 'target').length).toBeGreaterThan(0);
    expect(x.settings.kappa).toBeNull();
  });

  it('--method runs a comparison method and --faithfulness adds the curves to the output and the JSON', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = join(dir, 'occlusion.json');
    const code = await main([
      '--model', 'fixtures/models/tiny-gpt2', '--prompt', 'The cat sat on the mat.', '--target', ' The cat',
      '--granularity', 'word', '--method', 'occlusion-delete', '--faithfulness', '--json', file,
    ]);
    const printed = out.mock.calls.map((c) => String(c[0])).join('');
    out.mockRestore();
    expect(code).toBe(0);
    expect(printed).toMatch(/AOPC [+-]\d\.\d{4}\s+ABPC [+-]\d\.\d{4}/);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.method).toBe('occlusion-delete');
    expect(x.sign).toMatch(/deleted/);
    const f = x.faithfulness;
    expect(f.deletion).toHaveLength(x.units.length + 1);
    expect(f.insertion).toHaveLength(x.units.length + 1);
    expect(f.deletion[0]).toBeCloseTo(f.insertion.at(-1), 6);
    expect(f.abpc).toBeCloseTo(f.insertionAuc - f.deletionAuc, 10);
    await expect(main(['--model', 'fixtures/models/tiny-gpt2', '--prompt', 'x', '--target', ' y', '--method', 'saliency'])).rejects.toMatchObject({ code: 'BAD_SETTING' });
  });

  it('--method integrated-gradients --steps N: the JSON says the method, its sign and the completeness check, with faithfulness curves', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = join(dir, 'ig.json');
    const code = await main([
      '--model', 'fixtures/models/tiny-gpt2', '--prompt', 'The cat sat on the mat.', '--target', ' The cat',
      '--granularity', 'word', '--method', 'integrated-gradients', '--steps', '200', '--faithfulness', '--json', file,
    ]);
    const printed = out.mock.calls.map((c) => String(c[0])).join('');
    out.mockRestore();
    expect(code).toBe(0);
    expect(printed).toMatch(/completeness/);
    const x = JSON.parse(readFileSync(file, 'utf8'));
    expect(x.method).toBe('integrated-gradients');
    expect(x.sign).toMatch(/positive means the unit is evidence/);
    // 200 Gauss–Legendre nodes close the gap on this model (docs/autodiff.md)
    expect(x.run.completeness.relativeGap).toBeLessThan(1e-3);
    expect(x.faithfulness.deletion).toHaveLength(x.units.length + 1);
    await expect(main(['--model', 'fixtures/models/tiny-gpt2', '--prompt', 'x', '--target', ' y', '--method', 'chefer', '--steps', '5'])).rejects.toMatchObject({ code: 'BAD_SETTING' });
  });

  it('--layers chooses the layers the attention methods read, as the JSON\'s settings.layers says', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const run = async (method: string, ...flags: string[]) => {
      const file = join(dir, `layers-${method}${flags.join('')}.json`);
      const args = ['--model', 'fixtures/models/tiny-gpt2', '--prompt', 'The cat sat on the mat.', '--target', ' The cat', '--granularity', 'word'];
      expect(await main([...args, '--method', method, ...flags, '--json', file])).toBe(0);
      return JSON.parse(readFileSync(file, 'utf8')) as { settings: { layers: number[] | null }; run: { notes: string[] }; units: Array<{ score: number }> };
    };
    for (const method of ['attention', 'rollout']) {
      const one = await run(method, '--layers', '1');
      const all = await run(method);
      expect(one.settings.layers).toEqual([1]);
      expect(one.run.notes.join(' ')).toMatch(/layers 1, heads all/);
      expect(all.run.notes.join(' ')).toMatch(/layers all/);
      expect(one.units.map((u) => u.score)).not.toEqual(all.units.map((u) => u.score));
    }
    out.mockRestore();
  });

  it('puts the prompt in the chat template by default; --no-chat reads it as raw text, as without a template', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const run = async (name: string, ...flags: string[]) => {
      const file = join(dir, `${name}${flags.join('')}.json`);
      expect(await main(['--model', `fixtures/models/${name}`, '--prompt', 'The capital of France is', '--target', ' Paris', '--json', file, ...flags])).toBe(0);
      return JSON.parse(readFileSync(file, 'utf8')) as { tokens: Array<{ role: string; text: string }>; units: Array<{ positions: number[]; score: number }>; settings: { chat: boolean } };
    };
    const chat = await run('tiny-llama-instruct');
    const printed = out.mock.calls.map((c) => String(c[0])).join('');
    const raw = await run('tiny-llama-instruct', '--no-chat');
    const base = await run('tiny-gpt2');
    const baseRaw = await run('tiny-gpt2', '--no-chat');
    out.mockRestore();
    expect(chat.settings.chat).toBe(true);
    expect(chat.tokens.filter((t) => t.role === 'template').map((t) => t.text).slice(-3).join('')).toBe('<|im_start|>assistant\n');
    expect(printed).toMatch(/chat template: the prompt is the user's turn; \d+ template tokens/);
    expect(printed).toMatch(/\[The\|[+-]\d/);
    expect(raw.settings.chat).toBe(false);
    expect(raw.tokens.some((t) => t.role === 'template')).toBe(false);
    expect(raw.units).toHaveLength(raw.tokens.filter((t) => t.role === 'prompt').length);
    // a model without a template: the flag changes nothing
    expect(baseRaw.tokens).toEqual(base.tokens);
    expect(baseRaw.units.map((u) => u.score)).toEqual(base.units.map((u) => u.score));
    await expect(main(['--model', 'fixtures/models/tiny-gpt2', '--prompt', 'x', '--target', ' y', '--chat', '--no-chat'])).rejects.toMatchObject({ code: 'BAD_SETTING' });
  });

  it('prints usage and exits 2 without a model', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['--prompt', 'x'])).toBe(2);
    expect(String(err.mock.calls[0]![0])).toMatch(/usage: npm run explain/);
    err.mockRestore();
  });
  it('q8: runs exact by default, --coupled-numerics dequantized reports its deviation, and says both in words', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = join(dir, 'q8.json');
    const args = ['--model', 'fixtures/models/tiny-gpt2-kv', '--dtype', 'q8', '--prompt', 'The cat sat on the mat.', '--target', ' The cat', '--json', file];
    expect(await main(args)).toBe(0);
    const exact = JSON.parse(readFileSync(file, 'utf8'));
    expect(await main([...args, '--coupled-numerics', 'dequantized'])).toBe(0);
    const fast = JSON.parse(readFileSync(file, 'utf8'));
    const printed = out.mock.calls.map((c) => String(c[0])).join('');
    out.mockRestore();
    expect(exact.model.file).toBe('onnx/model_quantized.onnx');
    expect(exact.run.rowCoupling).toMatchObject({ handling: 'exact', reason: expect.stringMatching(/DynamicQuantizeLinear/) });
    expect(exact.batchSize).toBe(1);
    expect(fast.run.rowCoupling.handling).toBe('dequantized');
    expect(fast.run.rowCoupling.deviation.relative).toBeGreaterThan(0);
    expect(printed).toMatch(/note: rows and batch items are coupled/);
    expect(printed).toMatch(/note: ran the dequantized variant .*% of the largest score/);
    await expect(main([...args, '--coupled-numerics', 'fast'])).rejects.toMatchObject({ code: 'BAD_SETTING' });
  });
});
