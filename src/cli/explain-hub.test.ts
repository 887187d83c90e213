// The command line against a local hub-like server (HF_ENDPOINT): the chosen file and the reason
// go into the JSON's `model`; --dtype overrides; a missing variant names the files that exist.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type HubServer, repoFromFolder, startHubServer } from '../testing/hub-server';
import { main } from './explain';

describe('explain CLI with a hub id', () => {
  let hub: HubServer;
  let dir: string;
  const saved = process.env.HF_ENDPOINT;
  beforeAll(async () => {
    hub = await startHubServer(new Map([['test/gpt2', new Map([['main', repoFromFolder('fixtures/models/tiny-gpt2')]])]]));
    process.env.HF_ENDPOINT = hub.endpoint;
    dir = mkdtempSync(join(tmpdir(), 'atman-cli-hub-'));
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (...extra: string[]): Promise<{ code: number; printed: string; json: { model: Record<string, string> } }> => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = join(dir, `${extra.join('-') || 'auto'}.json`);
    try {
      const code = await main(['--model', 'test/gpt2', '--prompt', 'The cat sat.', '--target', ' The', '--json', file, ...extra]);
      return { code, printed: out.mock.calls.map((c) => String(c[0])).join(''), json: JSON.parse(readFileSync(file, 'utf8')) };
    } finally {
      out.mockRestore();
    }
  };

  it('auto on the CPU takes fp32 and says why, in the output and the JSON', async () => {
    const { code, printed, json } = await run();
    expect(code).toBe(0);
    expect(json.model).toMatchObject({ id: 'test/gpt2', dtype: 'fp32', file: 'onnx/model.onnx', backend: 'cpu' });
    expect(json.model.dtypeReason).toMatch(/^auto for the CPU \(onnxruntime-node\), which prefers fp32 > q4 > q8 > fp16 > q4f16: chose fp32/);
    expect(printed).toContain(`model: onnx/model.onnx (fp32); ${json.model.dtypeReason}`);
    expect(hub.log).toContain('GET /api/models/test/gpt2/tree/main?recursive=true&expand=false');
  });

  it('--dtype overrides; a variant the repository lacks is named with the files it has', async () => {
    const { json } = await run('--dtype', 'q4');
    expect(json.model).toMatchObject({ dtype: 'q4', file: 'onnx/model_q4.onnx', dtypeReason: 'q4 as asked' });
    await expect(run('--dtype', 'q8')).rejects.toMatchObject({
      code: 'MODEL_FILES_MISSING',
      message: expect.stringMatching(/^test\/gpt2 has no q8 variant .*Its ONNX files: onnx\/model\.onnx \(\d+ KB\), onnx\/model_q4\.onnx \(\d+ KB\)\. The variants it has: fp32, q4/),
    });
    await expect(run('--dtype', 'q3')).rejects.toMatchObject({ code: 'BAD_SETTING', message: expect.stringContaining('auto, fp32') });
  });
});
