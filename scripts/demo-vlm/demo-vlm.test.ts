// The bundled vision-language demo model (public/models/atman-demo-shapes) through onnxruntime-node,
// run as transformers.js runs Idefics3: it answers its bundled examples, at 64x64 and at 256x256
// (resized by the processor), and the answer follows the image, not just the question.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answersRight, decodePng, type Example } from './evaluate';
import { MODEL_DIR } from './export';
import { rawImage, ShapesVlm } from './pipeline';
import { promptFor, renderScene, SceneGenerator, TASK } from './task';

const examples = JSON.parse(readFileSync(join(MODEL_DIR, 'examples', 'examples.json'), 'utf8')) as Example[];
const config = JSON.parse(readFileSync(join(MODEL_DIR, 'config.json'), 'utf8')) as Record<string, unknown> & { atman_demo: Record<string, unknown> };
const png = (e: Example) => decodePng(readFileSync(join(MODEL_DIR, e.image)));

describe('atman-demo-shapes', () => {
  let vlm: ShapesVlm;
  beforeAll(async () => {
    vlm = await ShapesVlm.load(MODEL_DIR);
  });
  afterAll(async () => {
    await vlm?.release();
  });

  it('is an idefics3 folder with examples whose evidence box lies inside the image', () => {
    expect(config.model_type).toBe('idefics3');
    expect(config.atman_demo).toMatchObject({ trained_by: 'scripts/demo-vlm/train.py' });
    expect(config.atman_demo.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const e of examples) {
      expect(e.prompt).toBe(promptFor(e.question));
      const { left, top, width, height } = e.evidence;
      expect(left).toBeGreaterThanOrEqual(0);
      expect(top).toBeGreaterThanOrEqual(0);
      expect(left + width).toBeLessThanOrEqual(e.width);
      expect(top + height).toBeLessThanOrEqual(e.height);
    }
    expect(new Set(examples.map((e) => e.width))).toEqual(new Set([TASK.imageSize, TASK.imageSize * 4]));
  });

  it('answers every bundled example, then stops', async () => {
    for (const e of examples) {
      const image = await png(e);
      expect([image.width, image.height]).toEqual([e.width, e.height]);
      const a = await vlm.answer(e.prompt, image);
      expect(a.text, `${e.image}: ${e.question}`).toBe(e.answer);
      expect(a.ids.at(-1)).toBe(vlm.endTokenId);
    }
  });

  it('reads the answers off the image: every shape of an example scene, both questions', async () => {
    for (const e of examples.filter((x) => x.width === TASK.imageSize)) {
      const image = await png(e);
      for (const s of e.shapes) {
        const colourQ = TASK.colourQuestion.replace('{shape}', s.shape);
        const shapeQ = TASK.shapeQuestion.replace('{colour}', s.colour);
        expect((await vlm.answer(promptFor(colourQ), image)).text, `${e.image}: ${colourQ}`).toBe(' ' + s.colour);
        expect((await vlm.answer(promptFor(shapeQ), image)).text, `${e.image}: ${shapeQ}`).toBe(' ' + s.shape);
      }
    }
  });

  it('answers most of a fresh batch of scenes (not the held-out seed)', async () => {
    const gen = new SceneGenerator(99);
    let right = 0;
    const n = 40;
    for (let i = 0; i < n; i++) {
      const sc = gen.next();
      right += Number((await answersRight(vlm, sc.question, sc.target, rawImage(renderScene(sc), TASK.imageSize))).right);
    }
    expect(right / n).toBeGreaterThanOrEqual(0.8);
  });
});
