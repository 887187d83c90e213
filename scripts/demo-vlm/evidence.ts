// Does AtMan point at the right shape? On held-out scenes of the bundled shapes demo, explain the
// model's correct answers with the engine (the same code the playground runs) and check where the
// most relevant image token lies: inside the asked shape's box (pointing game), and how much of the
// positive image relevance falls on tokens overlapping that box.
//   npx tsx scripts/demo-vlm/evidence.ts [--n 100] [--scale 1] [--granularity token|word] [--mode M] [--kappa K|off]
import { AtmanModel } from '../../src/runtime/atman/atman-model';
import { explain } from '../../src/runtime/atman/explain';
import { generateGreedy } from '../../src/runtime/atman/generate';
import { decodeImage } from '../../src/runtime/image/decode-image';
import { folderSource } from '../../src/runtime/sources/folder-source';
import { createNodeBackend } from '../../src/runtime/backends/node-backend';
import type { Rect } from '../../src/core/image-regions';
import { EVAL_SEED, pngOf } from './evaluate';
import { MODEL_DIR } from './export';
import { type Box, SceneGenerator, evidenceBox, promptFor } from './task';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};

const overlaps = (r: Rect, b: Box): boolean => r.left < b.left + b.width && b.left < r.left + r.width && r.top < b.top + b.height && b.top < r.top + r.height;
const centreIn = (r: Rect, b: Box): boolean => {
  const x = r.left + r.width / 2;
  const y = r.top + r.height / 2;
  return x >= b.left && x <= b.left + b.width && y >= b.top && y <= b.top + b.height;
};

async function main(): Promise<void> {
  const n = Number(arg('--n', '100'));
  const scale = Number(arg('--scale', '1'));
  const granularity = arg('--granularity', 'token') as 'token' | 'word';
  const mode = arg('--mode', 'multiplicative') as 'multiplicative' | 'log-additive';
  const kappa = arg('--kappa', '0.7');
  const model = await AtmanModel.load(folderSource(MODEL_DIR), createNodeBackend());
  const gen = new SceneGenerator(EVAL_SEED + 1000);
  let explained = 0;
  let topOverlap = 0;
  let topCentre = 0;
  let massIn = 0;
  let chance = 0;
  let right = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const scene = gen.next();
    const image = await decodeImage(new Uint8Array(await pngOf(scene, scale)));
    const box = evidenceBox(scene, scale);
    // The answer through the same engine path (the engine's own resize, then the processor).
    right += Number((await generateGreedy(model, promptFor(scene.question), 3, undefined, image)) === scene.target);
    const ex = await explain(model, { prompt: promptFor(scene.question), target: scene.target, image: { image }, settings: { mode, kappa: kappa === 'off' ? null : Number(kappa), granularity: { kind: granularity } } });
    const imageUnits = ex.units.filter((u) => u.region && u.label !== 'global');
    const top = imageUnits.reduce((a, b) => (b.score > a.score ? b : a));
    explained++;
    topOverlap += Number(overlaps(top.region!, box));
    topCentre += Number(centreIn(top.region!, box));
    chance += imageUnits.filter((u) => overlaps(u.region!, box)).length / imageUnits.length;
    const positive = imageUnits.filter((u) => u.score > 0);
    const total = positive.reduce((a, u) => a + u.score, 0);
    massIn += total > 0 ? positive.filter((u) => overlaps(u.region!, box)).reduce((a, u) => a + u.score, 0) / total : 0;
  }
  const pct = (x: number) => `${((100 * x) / explained).toFixed(1)}%`;
  console.log(`${explained} held-out scenes (seed ${EVAL_SEED + 1000}), ${scale * 64}x${scale * 64} PNG, ${granularity} image units, ${mode}, factor 0.1, kappa ${kappa}`);
  console.log(`answers right through the engine (greedy, up to the end token): ${pct(right)}`);
  console.log(`top image unit overlaps the asked shape's box: ${pct(topOverlap)}; its centre lies in the box: ${pct(topCentre)}`);
  console.log(`chance level (a random image unit overlaps the box): ${pct(chance)}`);
  console.log(`share of positive image relevance on units overlapping the box: ${pct(massIn)}`);
  console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await model.release();
}

await main();
