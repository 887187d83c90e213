// `npm run fetch-model` against a local server that answers like the hub: one variant of a model,
// with the files beside it, copied into the hub layout; a second run fetches nothing; a variant the
// repository lacks is refused by name. The workshop server's list then offers the model.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listServedModels } from '../../vite-plugins/workshop-models';
import { expectCode } from '../testing/expect-code';
import { type HubServer, repoFromFolder, startHubServer } from '../testing/hub-server';
import { fetchModel } from './fetch-model';

const FOLDER = 'fixtures/models/tiny-gpt2';

describe('fetch-model', () => {
  let hub: HubServer;
  let out: string;
  beforeAll(async () => {
    hub = await startHubServer(new Map([['test/tiny-gpt2', new Map([['main', repoFromFolder(FOLDER)]])]]));
    out = await mkdtemp(join(tmpdir(), 'fetch-model-'));
  });
  afterAll(async () => {
    await hub.close();
    await rm(out, { recursive: true, force: true });
  });

  it('copies the variant a browser would load, with the files beside it, into the hub layout', async () => {
    const r = await fetchModel({ repo: 'test/tiny-gpt2', out, endpoint: hub.endpoint });
    // A browser without shader-f16 prefers 4-bit weights.
    expect(r.dtype).toBe('q4');
    expect(r.dir).toBe(join(out, 'test', 'tiny-gpt2'));
    const root = (await readdir(r.dir)).sort();
    expect(root).toEqual(['config.json', 'generation_config.json', 'onnx', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect(await readdir(join(r.dir, 'onnx'))).toEqual(['model_q4.onnx']);
    for (const f of ['config.json', 'tokenizer.json', 'onnx/model_q4.onnx']) {
      expect(Buffer.compare(await readFile(join(r.dir, f)), await readFile(join(FOLDER, f)))).toBe(0);
    }
  });

  it('fetches nothing twice, and fetches a file again when its size is wrong', async () => {
    await writeFile(join(out, 'test', 'tiny-gpt2', 'tokenizer.json'), 'cut short');
    const r = await fetchModel({ repo: 'test/tiny-gpt2', out, endpoint: hub.endpoint });
    expect(r.files.filter((f) => !f.skipped).map((f) => f.path)).toEqual(['tokenizer.json']);
    expect(Buffer.compare(await readFile(join(r.dir, 'tokenizer.json')), await readFile(join(FOLDER, 'tokenizer.json')))).toBe(0);
  });

  it('takes another dtype when asked, and refuses one the repository lacks', async () => {
    const r = await fetchModel({ repo: 'test/tiny-gpt2', out, endpoint: hub.endpoint, dtype: 'fp32' });
    expect(r.files.map((f) => f.path)).toContain('onnx/model.onnx');
    await expectCode(fetchModel({ repo: 'test/tiny-gpt2', out, endpoint: hub.endpoint, dtype: 'q4f16' }), 'MODEL_FILES_MISSING', /no q4f16 variant/);
    await expectCode(fetchModel({ repo: '../etc', out, endpoint: hub.endpoint }), 'BAD_SETTING', /not a Hugging Face model id/);
  });

  it('is offered by the workshop server list', async () => {
    const served = await listServedModels(out);
    expect(served).toEqual([
      expect.objectContaining({ repo: 'test/tiny-gpt2', path: '/workshop/models/test/tiny-gpt2/', onnx: ['onnx/model.onnx', 'onnx/model_q4.onnx'] }),
    ]);
    expect(served[0]!.bytes).toBeGreaterThan(1000);
  });
});
