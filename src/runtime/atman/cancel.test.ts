// Cancel at every stage of the engine: loading (download, rewrite, session, self-check),
// generating, explaining, comparing and measuring. Each is cancelled from its own progress, so
// the abort lands mid-run; the run throws CANCELLED, and the same model then runs the next
// request to the numbers of a model that was never cancelled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeBackend } from '../backends/node-backend';
import { explainComparison } from '../compare/comparison-methods';
import { measureFaithfulness } from '../compare/faithfulness';
import { folderSource } from '../sources/folder-source';
import { hubSource } from '../sources/hub-source';
import { type HubServer, repoFromFolder, startHubServer } from '../../testing/hub-server';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel, type LoadProgress } from './atman-model';
import { explain } from './explain';
import { generateGreedy } from './generate';

const backend = createNodeBackend({ threads: 1 });
const FIXTURE = 'fixtures/models/tiny-gpt2';
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat and sat down.';
const TARGET = ' The dog sat';

/** A controller that aborts the first time `when` holds. */
function abortWhen<T>(when: (p: T) => boolean): { signal: AbortSignal; on: (p: T) => void } {
  const ctl = new AbortController();
  return { signal: ctl.signal, on: (p) => void (when(p) && ctl.abort()) };
}

describe('cancel while loading', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer(new Map([['acme/tiny-gpt2', new Map([['main', repoFromFolder(FIXTURE)]])]]));
  });
  afterAll(() => hub.close());

  for (const stage of ['download', 'rewrite', 'session', 'self-check'] as const) {
    it(`at the ${stage} stage`, async () => {
      const seen: LoadProgress['stage'][] = [];
      const c = abortWhen<LoadProgress>((p) => p.stage === stage);
      const source = () => hubSource('acme/tiny-gpt2', { endpoint: hub.endpoint });
      await expectCode(
        AtmanModel.load(source(), backend, { dtype: 'fp32', signal: c.signal, onProgress: (p) => (seen.push(p.stage), c.on(p)) }),
        'CANCELLED',
      );
      // Nothing after the stage it was cancelled in.
      expect(seen.at(-1)).toBe(stage);
      const m = await AtmanModel.load(source(), backend, { dtype: 'fp32' });
      try {
        expect((await explain(m, { prompt: PROMPT, target: TARGET })).units.length).toBeGreaterThan(0);
      } finally {
        await m.release();
      }
    });
  }

  it('before it starts', async () => {
    await expectCode(AtmanModel.load(folderSource(FIXTURE), backend, { signal: AbortSignal.abort() }), 'CANCELLED');
  });
});

describe('cancel a run; the model runs the next one as if nothing happened', () => {
  let model: AtmanModel;
  let ref: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(FIXTURE), backend);
    ref = await AtmanModel.load(folderSource(FIXTURE), backend);
  });
  afterAll(async () => Promise.all([model.release(), ref.release()]));

  const req = { prompt: PROMPT, target: TARGET, batchSize: 2 };

  it('generating', async () => {
    const ctl = new AbortController();
    let tokens = 0;
    await expectCode(generateGreedy(model, PROMPT, 20, ctl.signal, undefined, { onToken: (n) => ((tokens = n), n === 2 && ctl.abort()) }), 'CANCELLED');
    expect(tokens).toBe(2);
    expect(await generateGreedy(model, PROMPT, 5)).toBe(await generateGreedy(ref, PROMPT, 5));
  });

  it('explaining', async () => {
    const c = abortWhen<{ loaded: number }>((p) => p.loaded > 0);
    const loaded: number[] = [];
    await expectCode(explain(model, { ...req, signal: c.signal, onProgress: (p) => (loaded.push(p.loaded), c.on(p)) }), 'CANCELLED');
    expect(loaded.length).toBe(1);
    const [x, y] = [await explain(model, req), await explain(ref, req)];
    expect(x.units.map((u) => u.score)).toEqual(y.units.map((u) => u.score));
  });

  it('comparing (occlusion)', async () => {
    const c = abortWhen<{ loaded: number }>((p) => p.loaded > 0);
    const creq = { ...req, method: 'occlusion-delete' as const };
    await expectCode(explainComparison(model, { ...creq, signal: c.signal, onProgress: c.on }), 'CANCELLED');
    const [x, y] = [await explainComparison(model, creq), await explainComparison(ref, creq)];
    expect(x.units.map((u) => u.score)).toEqual(y.units.map((u) => u.score));
  });

  it('measuring faithfulness', async () => {
    const x = await explain(ref, req);
    const c = abortWhen<{ loaded: number }>((p) => p.loaded > 0);
    await expectCode(measureFaithfulness(model, x, { batchSize: 2, randomRuns: 1, signal: c.signal, onProgress: c.on }), 'CANCELLED');
    const [a, b] = [await measureFaithfulness(model, x, { batchSize: 2, randomRuns: 1 }), await measureFaithfulness(ref, x, { batchSize: 2, randomRuns: 1 })];
    expect(a.deletion).toEqual(b.deletion);
    expect(a.insertion).toEqual(b.insertion);
  });
});
