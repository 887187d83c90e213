// Image explanations checked against an independent float64 decoder (src/testing/reference-vlm.ts):
// the image goes through transformers.js' own processor and the fixture's encoder graph, unmodified,
// and the features are merged by hand; every unit's pass is then recomputed in float64 and its
// cross-entropy differences compared with the engine's.
import { resolve } from 'node:path';
import { AutoProcessor, RawImage, env, type Processor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rect } from '../../core/image-regions';
import type { ExplainSettings } from '../../core/types';
import {
  type Gpt2CrossReference,
  type LlamaReference,
  crossEntropies,
  gpt2CrossLogits,
  llamaLogits,
  loadIdefics3Reference,
  loadVitGpt2Reference,
  mergedEmbeddings,
} from '../../testing/reference-vlm';
import { AtmanModel } from '../atman/atman-model';
import { type ExplainRequest, explain } from '../atman/explain';
import { type Explanation } from '../schema';
import { type DecodedImage, decodeImage } from './decode-image';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';
import { resamplePixels } from './resample';
import { expectCode } from '../../testing/expect-code';

const MODELS = resolve(__dirname, '../../../fixtures/models');
const backend = createNodeBackend();
const W = 50;
const H = 30;

/** A wide picture of four flat quadrants and a diagonal stripe, so tiles and patches differ. */
async function testPng(): Promise<Uint8Array> {
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const quadrant = (x < W / 2 ? 0 : 1) + (y < H / 2 ? 0 : 2);
      const c = [[220, 30, 30], [30, 40, 220], [30, 200, 40], [240, 230, 20]][quadrant]!;
      const stripe = Math.abs(x - 2 * y) < 3;
      data.set(stripe ? [255, 255, 255] : c, (y * W + x) * 3);
    }
  }
  return new Uint8Array(await sharp(data, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
}


const DRAWN: Rect = { left: 3, top: 2, width: 20, height: 10 };
const overlapArea = (a: Rect, b: Rect) =>
  Math.max(0, Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top));
const overlaps = (a: Rect, b: Rect) => overlapArea(a, b) > 0;

/** What the reference needs from one fixture: its decoder, and the unmodified encoder's output for the test image. */
interface Fixture {
  name: 'tiny-idefics3' | 'tiny-vit-gpt2';
  prompt: string;
  target: string;
  model: AtmanModel;
  /** float64 logits [S, V] of a pass with self factors phi (S) and encoder factors psi (E) */
  logits: (ids: number[], phi: number[] | null, psi: number[] | null, mode: ExplainSettings['mode'], layers?: number[]) => Float64Array;
  vocab: number;
  /** encoder columns after the S sequence columns (captioners) */
  encoderLength: number;
  /** input vectors of every column (S + E), in groups of one space each, for conceptual suppression */
  similarityGroups: (ids: number[]) => number[][][];
  /** the prompt ids transformers.js' processor makes, where it makes them */
  processorIds: number[] | null;
  /** logits of the fixture's decoder graph as exported, through onnxruntime */
  unmodified: (ids: number[]) => Promise<Float32Array>;
}

let image: DecodedImage;

const presized = (d: DecodedImage, width: number, height: number): RawImage =>
  new RawImage(resamplePixels(d.image.data, d.width, d.height, 3, width, height), width, height, 3);
const fixtures: Partial<Record<Fixture['name'], Fixture>> = {};
const sessions: ort.InferenceSession[] = [];

beforeAll(async () => {
  image = await decodeImage(await testPng(), { filename: 'quadrants.png' });
  env.localModelPath = MODELS + '/';
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  const session = async (name: string, file: string) => {
    const s = await ort.InferenceSession.create(resolve(MODELS, name, 'onnx', file));
    sessions.push(s);
    return s;
  };

  {
    const name = 'tiny-idefics3';
    const prompt = 'What is in <image> this?';
    const processor = (await AutoProcessor.from_pretrained(name)) as Processor;
    // The engine resizes with its own filter before the processor (the same pixels in Node and the
    // browser); the processor then keeps the picture. 50 x 30 -> longest edge 64: 64 x 38.
    const inputs = await processor(prompt, [presized(image, 64, 38)]);
    const enc = await session(name, 'vision_encoder.onnx');
    const out = await enc.run({ pixel_values: inputs.pixel_values.ort_tensor ?? inputs.pixel_values, pixel_attention_mask: inputs.pixel_attention_mask.ort_tensor ?? inputs.pixel_attention_mask });
    const features = Float64Array.from(out.image_features!.data as Float32Array);
    const ref: LlamaReference = loadIdefics3Reference(resolve(MODELS, name));
    const decoder = await session(name, 'decoder_model_merged.onnx');
    fixtures[name] = {
      name,
      prompt,
      target: ' the cat',
      model: await AtmanModel.load(folderSource(resolve(MODELS, name)), backend),
      vocab: ref.vocab,
      encoderLength: 0,
      logits: (ids, phi, _psi, mode, layers) => llamaLogits(ref, mergedEmbeddings(ref, ids, features), phi, mode, layers),
      similarityGroups: (ids) => [mergedEmbeddings(ref, ids, features).map((r) => Array.from(r))],
      processorIds: ((inputs.input_ids.tolist() as bigint[][])[0] ?? []).map(Number),
      unmodified: async (ids) => {
        const S = ids.length;
        const embeds = Float32Array.from(mergedEmbeddings(ref, ids, features).flatMap((r) => Array.from(r)));
        const i64 = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, S]);
        const empty = Object.fromEntries(decoder.inputNames.filter((n) => n.startsWith('past_')).map((n) => [n, new ort.Tensor('float32', new Float32Array(0), [1, ref.nKvHead, 0, ref.headDim])]));
        const feeds = { inputs_embeds: new ort.Tensor('float32', embeds, [1, S, ref.hidden]), attention_mask: i64(ids.map(() => 1)), position_ids: i64(ids.map((_, i) => i)), ...empty };
        return (await decoder.run(feeds)).logits!.data as Float32Array;
      },
    };
  }
  {
    const name = 'tiny-vit-gpt2';
    const processor = (await AutoProcessor.from_pretrained(name)) as Processor;
    const inputs = await processor(presized(image, 32, 32));
    const enc = await session(name, 'encoder_model.onnx');
    const out = (await enc.run({ pixel_values: inputs.pixel_values.ort_tensor ?? inputs.pixel_values })).last_hidden_state!;
    const [, E, D] = out.dims as [number, number, number];
    const data = out.data as Float32Array;
    const states = Array.from({ length: E }, (_, i) => Float64Array.from(data.subarray(i * D, (i + 1) * D)));
    const ref: Gpt2CrossReference = loadVitGpt2Reference(resolve(MODELS, name));
    const decoder = await session(name, 'decoder_model_merged.onnx');
    const wte = ref.w.get('decoder.transformer.wte.weight');
    fixtures[name] = {
      name,
      prompt: 'a picture of',
      target: ' the cat',
      model: await AtmanModel.load(folderSource(resolve(MODELS, name)), backend),
      vocab: ref.vocab,
      encoderLength: E,
      logits: (ids, phi, psi, mode, layers) => gpt2CrossLogits(ref, ids, states, phi, psi, mode, layers),
      // text columns compare token-embedding rows, image columns the encoder output; never with each other
      similarityGroups: (ids) => [ids.map((id) => Array.from(wte.subarray(id * D, (id + 1) * D))), states.map((r) => Array.from(r))],
      processorIds: null,
      unmodified: async (ids) => {
        const S = ids.length;
        const Dh = D / ref.nHead;
        const empty = Object.fromEntries(decoder.inputNames.filter((n) => n.startsWith('past_')).map((n) => [n, new ort.Tensor('float32', new Float32Array(0), [1, ref.nHead, 0, Dh])]));
        const feeds = {
          input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, S]),
          encoder_hidden_states: new ort.Tensor('float32', data.slice(), [1, E, D]),
          use_cache_branch: new ort.Tensor('bool', [false], [1]),
          ...empty,
        };
        return (await decoder.run(feeds)).logits!.data as Float32Array;
      },
    };
  }
}, 60_000);

afterAll(async () => {
  for (const f of Object.values(fixtures)) await f.model.release();
  for (const s of sessions) await s.release();
});

const fixture = (name: Fixture['name']): Fixture => fixtures[name]!;

/** The unit's full factor vector over S + E columns, from what the engine reports. */
function reportedFactors(x: Explanation, u: number, columns: number): number[] {
  const phi = new Array<number>(columns).fill(1);
  for (const [c, f] of x.units[u]!.factors) phi[c] = f;
  return phi;
}

function cosine(a: number[], b: number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((v, i) => {
    ab += v * b[i]!;
    aa += v * v;
    bb += b[i]! * b[i]!;
  });
  return ab / Math.sqrt(aa * bb);
}

/** Factors written out from docs/method.md ("Conceptual suppression"): seeds at `factor`, every column of the same space with cosine >= kappa at 1 - cos (1 - factor), the strongest wins. */
function expectedFactors(groups: number[][][], positions: number[], coverage: number[], factor: number, kappa: number | null): number[] {
  const rows = groups.flatMap((g, gi) => g.map((r) => ({ r, gi })));
  const phi = new Array<number>(rows.length).fill(1);
  const offer = (k: number, v: number) => {
    if (Math.abs(1 - v) > Math.abs(1 - phi[k]!)) phi[k] = v;
  };
  positions.forEach((p, j) => {
    const strength = coverage[j]! * (1 - factor);
    offer(p, 1 - strength);
    if (kappa === null) return;
    rows.forEach(({ r, gi }, k) => {
      if (k === p || gi !== rows[p]!.gi) return;
      const c = Math.min(1, cosine(rows[p]!.r, r));
      if (c >= kappa - 1e-6 && c > 0) offer(k, 1 - c * strength);
    });
  });
  return phi;
}

interface Agreement {
  /** largest |engine - reference| over every unit's per-target relevance */
  scores: number;
  /** largest |engine - reference| of the unperturbed cross-entropies */
  baseline: number;
}

/** Recomputes every pass of an explanation in float64 and compares. */
function compareWithReference(f: Fixture, x: Explanation, layers?: number[]): Agreement {
  const S = x.tokens.length - 1;
  const ids = x.tokens.slice(0, S).map((t) => t.id);
  const P = x.tokens.filter((t) => t.role === 'prompt').length;
  const targets = x.tokens.slice(P).map((t) => t.id);
  const rows = targets.map((_, t) => P - 1 + t);
  const mode = x.settings.mode;
  const ce = (phi: number[] | null, psi: number[] | null) => crossEntropies(f.logits(ids, phi, psi, mode, layers), f.vocab, rows, targets);
  const ce0 = ce(null, null);
  let scores = 0;
  const baseline = Math.max(...ce0.map((c, t) => Math.abs(c - x.baseline.crossEntropy[t]!)));
  x.units.forEach((u, i) => {
    const all = reportedFactors(x, i, S + f.encoderLength);
    const phi = all.slice(0, S);
    const psi = f.encoderLength ? all.slice(S) : null;
    const ceu = ce(phi, psi);
    ceu.forEach((c, t) => (scores = Math.max(scores, Math.abs(c - ce0[t]! - u.perTarget[t]!))));
  });
  return { scores, baseline };
}

const measured: string[] = [];
afterAll(() => console.log(`max |engine - float64 reference|:\n  ${measured.join('\n  ')}`));

describe('image explanations agree with the float64 reference', () => {
  const cases: Array<{ label: string; settings: Partial<ExplainSettings> }> = [
    { label: 'multiplicative, kappa off', settings: { mode: 'multiplicative', kappa: null } },
    { label: 'multiplicative, kappa 0.7', settings: { mode: 'multiplicative', kappa: 0.7 } },
    { label: 'log-additive, kappa off', settings: { mode: 'log-additive', kappa: null } },
    { label: 'log-additive, kappa 0.7', settings: { mode: 'log-additive', kappa: 0.7 } },
    { label: 'log-additive, factor 0 (the -1e4 floor), kappa off', settings: { mode: 'log-additive', kappa: null, factor: 0 } },
    { label: 'multiplicative, layer 1 only, factor 0, kappa off', settings: { mode: 'multiplicative', kappa: null, factor: 0, layers: [1] } },
    {
      label: 'log-additive, word tiles, partly covered drawn tokens, per-token targets, kappa 0.7',
      settings: { mode: 'log-additive', kappa: 0.7, granularity: { kind: 'word' }, tokenOverlap: 'partial', targetGranularity: 'token' },
    },
  ];
  for (const name of ['tiny-idefics3', 'tiny-vit-gpt2'] as const) {
    for (const c of cases) {
      it(`${name}: ${c.label}`, async () => {
        const f = fixture(name);
        const x = await explain(f.model, { prompt: f.prompt, target: f.target, settings: c.settings, image: { image, regions: [{ kind: 'rect', rect: DRAWN }] } });
        const S = x.tokens.length - 1;
        const imageUnits = x.units.filter((u) => u.image !== undefined);
        // token granularity: one unit per image token, and the drawn region
        if (x.settings.granularity.kind === 'token') expect(imageUnits.length).toBe(x.image!.tokens.length + 1);
        else expect(imageUnits.length).toBeLessThan(x.image!.tokens.length);
        // the reported factors are docs/method.md's, recomputed here from the reference's own input vectors
        const groups = f.similarityGroups(x.tokens.slice(0, S).map((t) => t.id));
        const img = x.image!;
        x.units.forEach((u, i) => {
          // a drawn region with partial overlap gives each token the covered share of its area
          const coverage = u.positions.map((p) => {
            const t = img.tokens.find((k) => k.column === p);
            if (!t || !u.label.startsWith('drawn') || x.settings.tokenOverlap !== 'partial') return 1;
            return overlapArea(t.region, DRAWN) / (t.region.width * t.region.height);
          });
          const expected = expectedFactors(groups, u.positions, coverage, x.settings.factor, x.settings.kappa);
          const got = reportedFactors(x, i, S + f.encoderLength);
          expect(got.length).toBe(expected.length);
          got.forEach((g, k) => expect(Math.abs(g - expected[k]!), `${u.label} column ${k}`).toBeLessThan(1e-5));
        });
        if (x.settings.kappa !== null && x.settings.granularity.kind === 'token') {
          // the image is flat in places: conceptual suppression must drag neighbouring image tokens along
          expect(imageUnits.some((u) => u.factors.length > u.positions.length)).toBe(true);
        }
        const agreement = compareWithReference(f, x, c.settings.layers ?? undefined);
        measured.push(`${name} ${c.label}: scores ${agreement.scores.toExponential(2)}, baseline CE ${agreement.baseline.toExponential(2)}`);
        expect(agreement.baseline).toBeLessThan(1e-4);
        expect(agreement.scores).toBeLessThan(1e-4);
        // the comparison is not vacuous: image units move the target
        expect(Math.max(...imageUnits.map((u) => Math.abs(u.score)))).toBeGreaterThan(1e-3);
      });
    }
  }

  for (const name of ['tiny-idefics3', 'tiny-vit-gpt2'] as const) {
    it(`${name}: the reference reproduces the decoder graph as exported`, async () => {
      const f = fixture(name);
      const x = await explain(f.model, { prompt: f.prompt, target: f.target, settings: { kappa: null, granularity: { kind: 'paragraph' } }, image: { image } });
      const ids = x.tokens.slice(0, -1).map((t) => t.id);
      const ref = f.logits(ids, null, null, 'multiplicative');
      const got = await f.unmodified(ids);
      expect(got.length).toBe(ref.length);
      const worst = ref.reduce((m, v, i) => Math.max(m, Math.abs(v - got[i]!)), 0);
      measured.push(`${name} unmodified decoder logits: ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-4);
    });
  }

  it('tiny-idefics3: the prompt is the one transformers.js\' processor makes', async () => {
    const f = fixture('tiny-idefics3');
    const x = await explain(f.model, { prompt: f.prompt, target: f.target, settings: { kappa: null } });
    expect(x.units.every((u) => u.image === undefined)).toBe(true);
    const y = await explain(f.model, { prompt: f.prompt, target: f.target, settings: { kappa: null }, image: { image } });
    const prompt = y.tokens.filter((t) => t.role === 'prompt').map((t) => t.id);
    expect(prompt).toEqual(f.processorIds);
  });

  it('tiny-idefics3: a prompt without <image> gets the image in front', async () => {
    const f = fixture('tiny-idefics3');
    const x = await explain(f.model, { prompt: 'What is this?', target: f.target, settings: { kappa: null }, image: { image } });
    expect(x.prompt).toBe('<image>What is this?');
    const agreement = compareWithReference(f, x);
    measured.push(`tiny-idefics3 image first: scores ${agreement.scores.toExponential(2)}`);
    expect(agreement.scores).toBeLessThan(1e-4);
  });

  it('tiny-vit-gpt2: a caption explained from the start token alone', async () => {
    const f = fixture('tiny-vit-gpt2');
    const x = await explain(f.model, { prompt: '', target: ' the cat sat', settings: { kappa: null }, image: { image } });
    expect(x.tokens.filter((t) => t.role === 'prompt')).toHaveLength(1);
    const agreement = compareWithReference(f, x);
    measured.push(`tiny-vit-gpt2 empty prompt: scores ${agreement.scores.toExponential(2)}`);
    expect(agreement.scores).toBeLessThan(1e-4);
  });
});

describe('the savings change nothing', () => {
  for (const name of ['tiny-idefics3', 'tiny-vit-gpt2'] as const) {
    it(`${name}: prefix reuse and the score head on or off give the same scores`, async () => {
      const f = fixture(name);
      const base: ExplainRequest = { prompt: f.prompt, target: f.target, settings: { kappa: 0.7 }, image: { image, regions: [{ kind: 'rect', rect: DRAWN }] } };
      const runs: Explanation[] = [];
      for (const opts of [
        { prefixReuse: true, scoreHead: true },
        { prefixReuse: false, scoreHead: true },
        { prefixReuse: true, scoreHead: false },
        { prefixReuse: false, scoreHead: false, batchSize: 3 },
      ]) runs.push(await explain(f.model, { ...base, ...opts }));
      const a = runs[0]!;
      expect(a.run.prefixReuse).toBe('used');
      // the text after the image starts late, so some rows really were reused
      if (name === 'tiny-idefics3') expect(a.run.rowsComputed).toBeLessThan(a.run.rowsFullRecompute);
      let worst = 0;
      for (const b of runs.slice(1)) {
        expect(b.units.map((u) => u.label)).toEqual(a.units.map((u) => u.label));
        a.units.forEach((u, i) => u.perTarget.forEach((r, t) => (worst = Math.max(worst, Math.abs(r - b.units[i]!.perTarget[t]!)))));
      }
      measured.push(`${name} prefix reuse / score head on vs off: ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-5);
    });
  }
});

describe('all factors at 1 change nothing', () => {
  for (const name of ['tiny-idefics3', 'tiny-vit-gpt2'] as const) {
    it(`${name}: the self-check holds in both modes, and factor 1 gives zero scores`, async () => {
      const f = fixture(name);
      for (const mode of ['multiplicative', 'log-additive'] as const) {
        await f.model.reconfigure(mode, null);
        const check = f.model.current.selfCheck!;
        expect(check.maxAbsDiff).toBeLessThanOrEqual(check.tolerance);
        for (const prefixReuse of [true, false]) {
          const x = await explain(f.model, { prompt: f.prompt, target: f.target, settings: { mode, factor: 1 }, image: { image }, prefixReuse });
          expect(x.units.every((u) => u.factors.length === 0)).toBe(true);
          const worst = Math.max(...x.units.flatMap((u) => u.perTarget.map(Math.abs)));
          measured.push(`${name} ${mode} factor 1 (prefix reuse ${prefixReuse ? 'on: passes skipped' : 'off: passes run'}): ${worst.toExponential(2)}`);
          expect(worst).toBeLessThan(1e-6);
          if (!prefixReuse) expect(x.run.passesSkipped).toBe(0);
        }
      }
    });
  }
});

describe('image units and regions', () => {
  for (const [name, count] of [['tiny-idefics3', 20], ['tiny-vit-gpt2', 17]] as const) {
    it(`${name}: ${count} image tokens, regions inside the image, the drawn region holds exactly the tokens it overlaps`, async () => {
      const f = fixture(name);
      const x = await explain(f.model, { prompt: f.prompt, target: f.target, settings: { kappa: null }, image: { image, regions: [{ kind: 'rect', rect: DRAWN }] } });
      const img = x.image!;
      expect(img).toMatchObject({ width: W, height: H, format: 'png', placement: name === 'tiny-idefics3' ? 'sequence' : 'encoder' });
      expect(img.tokens).toHaveLength(count);
      const S = x.tokens.length - 1;
      for (const t of img.tokens) {
        if (name === 'tiny-idefics3') expect(x.tokens[t.column]!.text).toBe('<image>');
        else expect(t.column).toBeGreaterThanOrEqual(S);
      }
      const inside = (r: Rect) => r.left >= 0 && r.top >= 0 && r.width > 0 && r.height > 0 && r.left + r.width <= W + 1e-9 && r.top + r.height <= H + 1e-9;
      const units = x.units.filter((u) => u.image !== undefined);
      for (const u of units) {
        expect(inside(u.region!), `${u.label} ${JSON.stringify(u.region)}`).toBe(true);
        expect(u.regions!.every(inside)).toBe(true);
        expect(u.positions).toEqual(u.imageTokens!.map((k) => img.tokens[k]!.column));
      }
      // token granularity: one unit per image token
      const grid = units.filter((u) => !u.label.startsWith('drawn'));
      expect(grid).toHaveLength(count);
      expect(grid.flatMap((u) => u.imageTokens).sort((a, b) => a! - b!)).toEqual(img.tokens.map((_, k) => k));
      const drawn = units.find((u) => u.label === 'drawn region 1')!;
      const expected = img.tokens.map((t, k) => ({ t, k })).filter(({ t }) => t.frame !== 'cls' && overlaps(t.region, DRAWN)).map(({ k }) => k);
      expect(expected.length).toBeGreaterThan(1);
      expect(expected.length).toBeLessThan(count - 1);
      expect(drawn.imageTokens).toEqual(expected);
      expect(drawn.positions).toEqual(expected.map((k) => img.tokens[k]!.column));
      // tiles that look different score differently
      expect(new Set(grid.map((u) => u.score.toFixed(3))).size).toBeGreaterThan(2);
    });
  }
});

describe('typed errors', () => {
  it('an image given to a text-only model', async () => {
    const model = await AtmanModel.load(folderSource(resolve(MODELS, 'tiny-gpt2')), backend);
    try {
      await expectCode(explain(model, { prompt: 'The cat', target: ' sat', image: { image } }), 'BAD_SETTING', /reads text only/);
    } finally {
      await model.release();
    }
  });

  it('a captioner without an image', async () => {
    await expectCode(explain(fixture('tiny-vit-gpt2').model, { prompt: 'a picture of', target: ' the cat' }), 'IMAGE_REQUIRED');
  });

  it('two <image> markers in one prompt', async () => {
    await expectCode(explain(fixture('tiny-idefics3').model, { prompt: '<image> and <image>', target: ' the cat', image: { image } }), 'BAD_SETTING', /2 <image> markers/);
  });

  it('a drawn region off the picture', async () => {
    const rect = { left: W + 5, top: 0, width: 4, height: 4 };
    await expectCode(explain(fixture('tiny-vit-gpt2').model, { prompt: 'a', target: ' the', image: { image, regions: [{ kind: 'rect', rect }] } }), 'BAD_SETTING', /covers no image token/);
  });

  it('bytes that are not an image', async () => {
    await expectCode(decodeImage(new TextEncoder().encode('just some words, not a picture\n'), { filename: 'notes.png' }), 'IMAGE_NOT_AN_IMAGE');
  });
});
