import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from './explain';
import { expectCode } from '../testing/expect-code';

const dir = mkdtempSync(join(tmpdir(), 'atman-cli-drill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROMPT = 'The cat sat on the mat. The dog ran to the cat. A bird sang in the garden tree.';
const BASE = ['--model', 'fixtures/models/tiny-gpt2-kv', '--prompt', PROMPT, '--target', ' The cat'];

async function run(args: string[]): Promise<{ code: number; printed: string; json: Record<string, any> }> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const file = join(dir, `${args.join('_').replace(/\W+/g, '-')}.json`);
  try {
    const code = await main([...BASE, ...args, '--json', file]);
    return { code, printed: out.mock.calls.map((c) => String(c[0])).join(''), json: JSON.parse(readFileSync(file, 'utf8')) };
  } finally {
    out.mockRestore();
  }
}

describe('npm run explain: drill-down and automatic units', () => {
  it('--drill-down starts at sentences, refines the strongest and writes the hierarchy', async () => {
    const { code, printed, json } = await run(['--drill-down', '--drill-top', '1']);
    expect(code).toBe(0);
    expect(json.settings).toMatchObject({ granularity: { kind: 'sentence' }, drillDown: { top: 1 } });
    expect(json.drillDown).toMatchObject({ top: 1, levels: ['sentence', 'word', 'token'] });
    const refined = json.units.filter((u: { children?: unknown }) => u.children);
    expect(refined).toHaveLength(1);
    expect(refined[0].children.length).toBeGreaterThan(1);
    expect(refined[0].children.filter((w: { children?: unknown }) => w.children)).toHaveLength(1);
    expect(json.passes).toBeLessThan(json.drillDown.fullPasses);
    expect(printed).toMatch(/drill-down \(sentence > word > token, the 1 strongest of each level refined\): \d+ passes \(\d+ \+ \d+ \+ \d+\), \d+% of the \d+ a full token-level run takes/);
    expect(printed).toContain(JSON.stringify(refined[0].children.find((w: { children?: unknown }) => w.children).label));
  });

  it('--drill-share sets which of the top units are refined; 0 refines the top K whatever their scores', async () => {
    const all = await run(['--drill-down', '--drill-share', '0']);
    expect(all.json.settings.drillDown).toEqual({ top: 2, share: 0 });
    expect(all.json.drillDown).toMatchObject({ top: 2, share: 0 });
    expect(all.json.units.filter((u: { children?: unknown }) => u.children)).toHaveLength(2);
    expect(all.printed).toMatch(/the 2 strongest of each level refined/);
    const one = await run(['--drill-down', '--drill-share', '1']);
    expect(one.json.units.filter((u: { children?: unknown }) => u.children)).toHaveLength(1);
    expect(one.printed).toMatch(/the strongest of each level refined, and up to 1 more scoring at least 1 of it/);
    const byDefault = await run(['--drill-down']);
    expect(byDefault.json.drillDown).toMatchObject({ top: 2, share: 0.4 });
  });

  it('--granularity auto --time-budget picks the units and says why', async () => {
    const { code, printed, json } = await run(['--granularity', 'auto', '--time-budget', '1h']);
    expect(code).toBe(0);
    expect(json.unitChoice).toMatchObject({ level: 'token', budgetSeconds: 3600 });
    expect(json.settings.granularity).toEqual({ kind: 'token' });
    expect(printed).toMatch(/note: automatic units: token units: \d+ passes at ~\d+ ms each take ~[\d.]+ s, within the 3600 s budget, the finest level/);
  });

  it('refuses the flags that do not go together', async () => {
    await expectCode(main([...BASE, '--granularity', 'auto']), 'BAD_SETTING', /--time-budget/);
    await expectCode(main([...BASE, '--time-budget', '30s']), 'BAD_SETTING', /--granularity auto/);
    await expectCode(main([...BASE, '--drill-top', '2']), 'BAD_SETTING', /--drill-down/);
    await expectCode(main([...BASE, '--drill-share', '0.5']), 'BAD_SETTING', /--drill-down/);
    await expectCode(main([...BASE, '--drill-down', '--drill-share', 'half']), 'BAD_SETTING', /--drill-share takes a number from 0 to 1/);
    await expectCode(main([...BASE, '--drill-down', '--drill-share', '1.5']), 'BAD_SETTING', /share/);
    await expectCode(main([...BASE, '--drill-down', '--granularity', 'token']), 'BAD_SETTING', /finer level/);
    await expectCode(main([...BASE, '--granularity', 'auto', '--time-budget', 'soon']), 'BAD_SETTING', /30s/);
  });
});
