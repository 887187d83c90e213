// The three gradient methods on image prompts, from the engine (the image through the processor and
// the encoder, x = the image tokens' input embeddings or a captioner's encoder output rows, the
// backward graph appended by the autodiff pass) against independent float64 versions: central
// finite differences on the float64 decoders of src/testing/reference-vlm.ts, and Chefer's rules
// written out again (src/testing/reference-gradients.ts). The decoder inputs (merged embeddings,
// encoder output) are the engine's own, read from prepare(): the image path is tested against
// transformers.js in explain-image.test.ts, and what is checked here is the gradients.
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ReferenceProblem,
  referenceCheferEncoderDecoder,
  referenceInputXGradient,
  referenceIntegratedGradients,
} from '../../testing/reference-gradients';
import { gpt2CrossLogits, llamaLogits, loadIdefics3Reference, loadVitGpt2Reference } from '../../testing/reference-vlm';
import { expectCode } from '../../testing/expect-code';
import { AtmanModel } from '../atman/atman-model';
import { prepare } from '../atman/prepare';
import { createNodeBackend } from '../backends/node-backend';
import { explainComparison } from '../compare/comparison-methods';
import { type DecodedImage, decodeImage } from '../image/decode-image';
import { folderSource } from '../sources/folder-source';
import type { Explanation, GradientMethod } from '../schema';
import { releaseGradientSessions } from './gradient-sessions';

const TOLERANCE = 1e-5;
const IG_STEPS = 8;
const DRAWN = { left: 3, top: 2, width: 20, height: 10 };

/** 50 x 30, four flat quadrants and a diagonal stripe: tiles and patches differ. */
async function quadrants(): Promise<DecodedImage> {
  const [W, H] = [50, 30];
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = [[220, 30, 30], [30, 40, 220], [30, 200, 40], [240, 230, 20]][(x < W / 2 ? 0 : 1) + (y < H / 2 ? 0 : 2)]!;
      data.set(Math.abs(x - 2 * y) < 3 ? [255, 255, 255] : c, (y * W + x) * 3);
    }
  }
  const png = new Uint8Array(await sharp(data, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
  return decodeImage(png, { filename: 'quadrants.png' });
}

interface Fixture {
  name: string;
  dir: string;
  prompt: string;
  target: string;
  /** Chefer's reference takes two forward passes per attention weight: a shorter text where that is slow */
  cheferTexts?: [string, string];
  image: () => Promise<DecodedImage>;
  /** the float64 problem over the engine's own decoder inputs; sites: the attention sites in the order they run */
  problem: (p: Awaited<ReturnType<typeof prepare>>) => { problem: ReferenceProblem; chefer: () => Float64Array[] };
}

const rows = (data: Float32Array, n: number, dim: number, from = 0) => Array.from({ length: n }, (_, i) => Float64Array.from(data.subarray((from + i) * dim, (from + i + 1) * dim)));

function inSequence(name: string, dir: string, texts: [string, string], cheferTexts: [string, string], image: () => Promise<DecodedImage>): Fixture {
  const ref = loadIdefics3Reference(dir);
  return {
    name,
    dir,
    prompt: texts[0],
    target: texts[1],
    cheferTexts,
    image,
    problem: (p) => {
      const S = p.ids.length;
      const problem: ReferenceProblem = {
        x: rows(p.context!.embeds!.data, S, ref.hidden),
        vocab: ref.vocab,
        promptLen: p.promptLen,
        targetIds: p.targetIds,
        logits: (embeds, edit) => llamaLogits(ref, embeds, null, 'multiplicative', undefined, edit),
      };
      const sites = Array.from({ length: ref.nLayer }, (_, layer) => ({ role: 'self' as const, heads: ref.nHead, layer }));
      return { problem, chefer: () => referenceCheferEncoderDecoder(problem, sites, S, 0) };
    },
  };
}

function captioner(name: string, dir: string, prompt: string, target: string): Fixture {
  const ref = loadVitGpt2Reference(dir);
  const wte = ref.w.get('decoder.transformer.wte.weight');
  return {
    name,
    dir,
    prompt,
    target,
    image: quadrants,
    problem: (p) => {
      const S = p.ids.length;
      const enc = p.context!.encoder!;
      const E = enc.dims[1];
      const problem: ReferenceProblem = {
        x: [...p.ids.map((id) => wte.slice(id * ref.nEmbd, (id + 1) * ref.nEmbd)), ...rows(enc.data, E, enc.dims[2])],
        vocab: ref.vocab,
        promptLen: p.promptLen,
        targetIds: p.targetIds,
        logits: (x, edit) => gpt2CrossLogits(ref, p.ids, x.slice(S), null, null, 'multiplicative', undefined, { tokenEmbeds: x.slice(0, S), ...(edit ? { editProbs: edit } : {}) }),
      };
      const sites = Array.from({ length: 2 * ref.nLayer }, (_, k) => ({ role: k % 2 === 0 ? ('self' as const) : ('cross' as const), heads: ref.nHead, layer: Math.floor(k / 2) }));
      return { problem, chefer: () => referenceCheferEncoderDecoder(problem, sites, S, E) };
    },
  };
}

const shapes = async () => decodeImage(new Uint8Array(readFileSync('public/models/atman-demo-shapes/examples/shapes-1-64.png')), { filename: 'shapes-1-64.png' });

const fixtures: Array<[string, () => Fixture]> = [
  ['tiny-idefics3 (in-sequence)', () => inSequence('tiny-idefics3', 'fixtures/models/tiny-idefics3', ['What is in <image> this?', ' the cat'], ['<image>What?', ' the'], quadrants)],
  ['tiny-vit-gpt2 (captioner)', () => captioner('tiny-vit-gpt2', 'fixtures/models/tiny-vit-gpt2', 'a picture of', ' the cat')],
  [
    'the image demo model (atman-demo-shapes)',
    () => inSequence('atman-demo-shapes', 'public/models/atman-demo-shapes', ['<image>What colour is the triangle? Answer:', ' yellow'], ['<image> blue?', ' yellow'], shapes),
  ],
];

const measured: string[] = [];
afterAll(() => console.log(`gradient methods on images, max |engine - float64 reference| / max |reference|:\n  ${measured.join('\n  ')}`));

describe.each(fixtures)('%s: gradient methods on image units equal the float64 reference within 1e-5 relative', (_label, make) => {
  const fx = make();
  let model: AtmanModel;
  let image: DecodedImage;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(fx.dir), createNodeBackend(), { selfCheck: false });
    image = await fx.image();
  });
  afterAll(async () => {
    await releaseGradientSessions(model);
    await model.release();
  });

  const settings = { granularity: { kind: 'token' as const }, targetGranularity: 'token' as const, kappa: null };
  const request = (method: GradientMethod) => {
    const [prompt, target] = method === 'chefer' && fx.cheferTexts ? fx.cheferTexts : [fx.prompt, fx.target];
    return { prompt, target, settings, image: { image, regions: [{ kind: 'rect' as const, rect: DRAWN }] } };
  };
  const run = (method: GradientMethod) => explainComparison(model, { ...request(method), method, steps: IG_STEPS });
  const reference = async (method: GradientMethod) => fx.problem(await prepare(model, request(method), { control: false }));

  /** every unit (text tokens, image tokens, the drawn region) against the sum of the reference's scores over its columns */
  function compare(method: string, x: Explanation, ref: Float64Array[]): number {
    let err = 0;
    let scale = 0;
    for (const u of x.units) {
      u.perTarget.forEach((v, t) => {
        const r = u.positions.reduce((a, c) => a + ref[t]![c]!, 0);
        err = Math.max(err, Math.abs(v - r));
        scale = Math.max(scale, Math.abs(r));
      });
    }
    const imageUnits = x.units.filter((u) => u.image !== undefined);
    expect(imageUnits.length).toBe(x.image!.tokens.length + 1);
    // the image matters to the target under this method: the comparison is not vacuous
    expect(Math.max(...imageUnits.map((u) => Math.abs(u.score)))).toBeGreaterThan(1e-3 * scale);
    expect(scale).toBeGreaterThan(1e-4);
    measured.push(`${fx.name} ${method}: ${(err / scale).toExponential(2)} (largest score ${scale.toPrecision(3)})`);
    return err / scale;
  }

  it('input-x-gradient', async () => {
    const x = await run('input-x-gradient');
    const { problem } = await reference('input-x-gradient');
    expect(compare('input-x-gradient', x, referenceInputXGradient(problem))).toBeLessThan(TOLERANCE);
  }, 60_000);

  it(`integrated-gradients (${IG_STEPS} steps), its completeness over text and image inputs together`, async () => {
    const x = await run('integrated-gradients');
    const { problem } = await reference('integrated-gradients');
    const ref = referenceIntegratedGradients(problem, IG_STEPS);
    const err = compare('integrated-gradients', x, ref);
    expect(err).toBeLessThan(TOLERANCE);
    const c = x.run.completeness!;
    expect(c.gap).toBeCloseTo(c.attributed - c.difference, 9);
    // the attributions summed are over every column, text and image (the processor's markers, in no unit, too)
    const total = ref.reduce((a, r) => a + r.reduce((s, v) => s + v, 0), 0);
    expect(Math.abs(c.attributed - total)).toBeLessThan(1e-4 * Math.max(1, Math.abs(total)));
  }, 60_000);

  it('chefer', async () => {
    const x = await run('chefer');
    const { chefer } = await reference('chefer');
    expect(compare('chefer', x, chefer())).toBeLessThan(TOLERANCE);
    expect(x.run.notes.join(' ')).toMatch(fx.name === 'tiny-vit-gpt2' ? /encoder-decoder/ : /decoder rule/);
  }, 600_000);
});

describe('refusals that stay', () => {
  it('raw attention, rollout and occlusion still refuse vision models, in words naming what works', async () => {
    const model = await AtmanModel.load(folderSource('fixtures/models/tiny-vit-gpt2'), createNodeBackend(), { selfCheck: false });
    try {
      const image = await quadrants();
      for (const method of ['attention', 'occlusion-delete'] as const) {
        await expectCode(explainComparison(model, { method, prompt: 'a picture of', target: ' the cat', image: { image } }), 'MODEL_UNSUPPORTED', /gradient methods/);
      }
      await expectCode(explainComparison(model, { method: 'chefer', prompt: 'a picture of', target: ' the cat' }), 'IMAGE_REQUIRED');
    } finally {
      await model.release();
    }
  });
});
