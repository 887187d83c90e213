// A loaded model keeps one controlled session: another mode or layer set changes feeds, and its
// scores equal a model loaded in that mode and with those layers from the start.
import { describe, expect, it } from 'vitest';
import type { ControlMode } from '../../core/types';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';

const backend = createNodeBackend();
const PROMPT = 'The cat sat on the mat. Then the dog ran to the cat.';
const TARGET = ' The cat';

const worst = (a: { units: { perTarget: number[] }[] }, b: { units: { perTarget: number[] }[] }): number =>
  Math.max(...a.units.flatMap((u, i) => u.perTarget.map((r, t) => Math.abs(r - b.units[i]!.perTarget[t]!))));

describe('one session per model', () => {
  for (const name of ['tiny-gpt2-kv', 'tiny-llama-gqa']) {
    it(`${name}: switching mode and layers keeps the session and equals a fresh load`, async () => {
      const model = await AtmanModel.load(folderSource(`fixtures/models/${name}`), backend);
      try {
        const session = model.current.session;
        const settings: Array<{ mode: ControlMode; layers: number[] | null }> = [
          { mode: 'log-additive', layers: null },
          { mode: 'multiplicative', layers: [1] },
          { mode: 'log-additive', layers: [0] },
          { mode: 'multiplicative', layers: null },
        ];
        for (const s of settings) {
          const x = await explain(model, { prompt: PROMPT, target: TARGET, settings: { ...s, kappa: null } });
          expect(model.current.session).toBe(session);
          expect(x.settings.mode).toBe(s.mode);
          expect(model.current.report.controlledLayers).toEqual(s.layers ?? [0, 1]);
          const fresh = await AtmanModel.load(folderSource(`fixtures/models/${name}`), backend, { ...s, selfCheck: false });
          try {
            const y = await explain(fresh, { prompt: PROMPT, target: TARGET, settings: { ...s, kappa: null } });
            expect(worst(x, y)).toBeLessThanOrEqual(1e-6);
            expect(Math.max(...x.units.map((u) => Math.abs(u.score)))).toBeGreaterThan(1e-4);
          } finally {
            await fresh.release();
          }
        }
      } finally {
        await model.release();
      }
    });
  }

  it('the self-check compares with the unmodified graph where kernels were rewritten, and with the bypass elsewhere', async () => {
    const plain = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2-kv'), backend);
    const fused = await AtmanModel.load(folderSource('fixtures/models/tiny-llama-gqa'), backend);
    const forced = await AtmanModel.load(folderSource('fixtures/models/tiny-gpt2-kv'), backend, { selfCheck: 'reference' });
    try {
      expect(plain.current.selfCheck).toMatchObject({ reference: 'bypass', maxAbsDiff: 0 });
      expect(fused.current.attention.kind).toBe('decomposed');
      expect(fused.current.selfCheck!.reference).toBe('original');
      expect(fused.current.selfCheck!.maxAbsDiff).toBeLessThanOrEqual(fused.current.selfCheck!.tolerance);
      expect(forced.current.selfCheck!.reference).toBe('original');
      expect(forced.current.selfCheck!.maxAbsDiff).toBeLessThanOrEqual(forced.current.selfCheck!.tolerance);
      expect(plain.loadTimes.total).toBeGreaterThan(0);
    } finally {
      await Promise.all([plain.release(), fused.release(), forced.release()]);
    }
  });
});
