// Measures the bundled vision-language demo model through onnxruntime-node, on held-out scenes
// (task.ts with train.py's held-out seed) encoded as PNG, decoded and preprocessed by
// transformers.js (AutoProcessor from the bundled folder), the three graphs run as transformers.js
// runs them (scripts/demo-vlm/pipeline.ts), greedy decoding:
//  (a) the processor's pixel_values for a 64x64 PNG equal train.py's preprocessing of the same pixels;
//  (b) answer accuracy on 64x64 PNGs, and on 256x256 renders of the same scenes (the processor
//      resizes them to 64x64);
//  (c) picks examples (every question about the scene answered right at both sizes) and checks
//      that transformers.js's own generate() answers them too;
//  (d) writes examples/ (PNG images at 64 and 256 pixels, examples.json with the evidence box),
//      README.md and the numbers into config.json.
//   npx tsx scripts/demo-vlm/evaluate.ts [--n 1000] [--n-large 300] [--model DIR] [--no-write]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Idefics3ForConditionalGeneration, RawImage, type Tensor as HfTensor } from '@huggingface/transformers';
import sharp from 'sharp';
import { MODEL_DIR, MODEL_NAME, TASK_DESCRIPTION } from './export';
import { ShapesVlm } from './pipeline';
import { type Box, evidenceBox, promptFor, renderScene, type Scene, SceneGenerator, TASK, trainingPixels } from './task';

export const EVAL_SEED = 2; // train.py's held-out seed
export const LARGE_SCALE = 4; // 256x256 renders

export interface Example {
  /** path inside the model folder */
  image: string;
  width: number;
  height: number;
  question: string;
  /** the full text prompt: promptFor(question) */
  prompt: string;
  /** the expected greedy answer, leading space included (then the end token) */
  answer: string;
  /** the asked shape's bounding box, in pixels of this image */
  evidence: Box;
  /** every shape of the scene with its bounding box in pixels of this image */
  shapes: Array<{ shape: string; colour: string } & Box>;
}

export async function pngOf(scene: Scene, scale: number): Promise<Buffer> {
  const W = TASK.imageSize * scale;
  return sharp(Buffer.from(renderScene(scene, scale)), { raw: { width: W, height: W, channels: 3 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

/** a PNG decoded as transformers.js decodes an image file */
export const decodePng = (png: Uint8Array): Promise<RawImage> => RawImage.fromBlob(new Blob([new Uint8Array(png)], { type: 'image/png' }));

/** the answer is right when greedy decoding gives exactly the target word, then the end token */
export async function answersRight(vlm: ShapesVlm, question: string, target: string, image: RawImage): Promise<{ right: boolean; text: string }> {
  const a = await vlm.answer(promptFor(question), image);
  return { right: a.text === target && a.ids.at(-1) === vlm.endTokenId, text: a.text };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const pct = (x: number, of: number) => `${x}/${of} = ${(x / of).toFixed(4)}`;

async function main(): Promise<void> {
  const n = Number(arg('--n', '1000'));
  const nLarge = Number(arg('--n-large', '300'));
  const dir = resolve(arg('--model', MODEL_DIR));
  const write = !process.argv.includes('--no-write');
  const t0 = performance.now();
  const vlm = await ShapesVlm.load(dir);
  const gen = new SceneGenerator(EVAL_SEED);
  const scenes = Array.from({ length: Math.max(n, nLarge) }, () => gen.next());
  const S = TASK.imageSize;

  // (a) preprocessing: the processor's pixel_values vs train.py's (trainingPixels mirrors its LUT)
  let equal = 0;
  let worst = 0;
  const checked = Math.min(50, scenes.length);
  for (const sc of scenes.slice(0, checked)) {
    const p = await vlm.process(promptFor(sc.question), await decodePng(await pngOf(sc, 1)));
    const mine = trainingPixels(renderScene(sc), S);
    if (p.pixelValues.dims.join() !== `1,1,3,${S},${S}`) throw new Error(`pixel_values has shape [${p.pixelValues.dims}], expected [1,1,3,${S},${S}]`);
    let d = 0;
    for (let i = 0; i < mine.length; i++) d = Math.max(d, Math.abs(p.pixelValues.data[i]! - mine[i]!));
    worst = Math.max(worst, d);
    equal += Number(d === 0);
  }
  console.log(`(a) processor pixel_values of a decoded 64x64 PNG == training preprocessing: ${equal}/${checked} images bit-equal (max abs diff ${worst})`);
  if (worst > 1e-6) throw new Error('the processor preprocesses images differently from training');

  // (b) accuracy
  const measure = async (count: number, scale: number) => {
    let right = 0;
    const byKind: Record<string, [number, number]> = { colour: [0, 0], shape: [0, 0] };
    const wrong: string[] = [];
    const ok: boolean[] = [];
    for (const sc of scenes.slice(0, count)) {
      const r = await answersRight(vlm, sc.question, sc.target, await decodePng(await pngOf(sc, scale)));
      ok.push(r.right);
      right += Number(r.right);
      byKind[sc.kind]![0] += Number(r.right);
      byKind[sc.kind]![1]++;
      if (!r.right && wrong.length < 5) wrong.push(`${sc.question} -> ${JSON.stringify(r.text)} (want ${JSON.stringify(sc.target)}; ${sc.shapes.map((s) => `${s.colour} ${s.shape}`).join(', ')})`);
    }
    return { right, count, byKind, wrong, ok };
  };
  const small = await measure(n, 1);
  console.log(`(b) held-out accuracy, 64x64 PNG: ${pct(small.right, n)}  (colour questions ${pct(...small.byKind.colour!)}, shape questions ${pct(...small.byKind.shape!)})`);
  for (const w of small.wrong) console.log(`    wrong: ${w}`);
  const large = await measure(nLarge, LARGE_SCALE);
  console.log(`    held-out accuracy, ${S * LARGE_SCALE}x${S * LARGE_SCALE} PNG resized by the processor: ${pct(large.right, nLarge)}`);
  for (const w of large.wrong) console.log(`    wrong: ${w}`);

  // (c) examples: every question about the scene answered right at both sizes; two colour and two
  // shape questions, three shapes when possible
  const allRight = async (sc: Scene): Promise<boolean> => {
    for (const scale of [1, LARGE_SCALE]) {
      const image = await decodePng(await pngOf(sc, scale));
      for (const s of sc.shapes) {
        const qs: Array<[string, string]> = [
          [TASK.colourQuestion.replace('{shape}', s.shape), ' ' + s.colour],
          [TASK.shapeQuestion.replace('{colour}', s.colour), ' ' + s.shape],
        ];
        for (const [q, t] of qs) if (!(await answersRight(vlm, q, t, image)).right) return false;
      }
    }
    return true;
  };
  const picked: Scene[] = [];
  for (const kind of ['colour', 'shape', 'colour', 'shape'] as const) {
    for (const shapes of [3, 2]) {
      let found: Scene | undefined;
      for (const [i, sc] of scenes.entries()) {
        if (i >= nLarge || !small.ok[i] || !large.ok[i] || sc.kind !== kind || sc.shapes.length !== shapes || picked.includes(sc)) continue;
        if (await allRight(sc)) {
          found = sc;
          break;
        }
      }
      if (found) {
        picked.push(found);
        break;
      }
    }
  }
  const examples: Example[] = [];
  const files: Record<string, Buffer> = {};
  for (const [k, sc] of picked.entries()) {
    for (const scale of [1, LARGE_SCALE]) {
      const W = S * scale;
      const image = `examples/shapes-${k + 1}-${W}.png`;
      files[image] = await pngOf(sc, scale);
      examples.push({
        image,
        width: W,
        height: W,
        question: sc.question,
        prompt: promptFor(sc.question),
        answer: sc.target,
        evidence: evidenceBox(sc, scale),
        shapes: sc.shapes.map((s) => ({ shape: s.shape, colour: s.colour, left: s.left * scale, top: s.top * scale, width: s.size * scale, height: s.size * scale })),
      });
    }
  }
  console.log(`examples: ${picked.length} scenes, ${examples.length} images; first: ${JSON.stringify(examples[0])}`);

  // (c) transformers.js's own Idefics3ForConditionalGeneration.generate on the examples
  const hf = await Idefics3ForConditionalGeneration.from_pretrained(basename(dir), { dtype: 'fp32' });
  let hfRight = 0;
  for (const e of examples) {
    const inputs = await vlm.processor(e.prompt, await decodePng(files[e.image]!));
    const out = (await hf.generate({ ...inputs, max_new_tokens: 3, do_sample: false })) as HfTensor;
    const ids = Array.from(out.data as BigInt64Array, Number).slice((inputs.input_ids as HfTensor).dims[1]);
    const text = vlm.processor.tokenizer!.decode(ids.filter((x) => x !== vlm.endTokenId), { skip_special_tokens: false }) as string;
    hfRight += Number(text === e.answer && ids.at(-1) === vlm.endTokenId);
  }
  await hf.dispose();
  console.log(`(c) transformers.js Idefics3ForConditionalGeneration.generate answers the examples: ${hfRight}/${examples.length}`);
  if (hfRight !== examples.length) throw new Error('transformers.js generate disagrees with the onnxruntime pipeline on the examples');

  if (write) {
    rmSync(join(dir, 'examples'), { recursive: true, force: true });
    mkdirSync(join(dir, 'examples'), { recursive: true });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    writeFileSync(join(dir, 'examples', 'examples.json'), JSON.stringify(examples, null, 2) + '\n');
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as {
      atman_demo: Record<string, unknown>;
      vision_config: { num_hidden_layers: number; hidden_size: number };
      text_config: { num_hidden_layers: number; hidden_size: number };
    };
    const procCfg = JSON.parse(readFileSync(join(dir, 'processor_config.json'), 'utf8')) as { image_seq_len: number };
    const arch: Arch = {
      visionLayers: cfg.vision_config.num_hidden_layers,
      visionHidden: cfg.vision_config.hidden_size,
      textLayers: cfg.text_config.num_hidden_layers,
      textHidden: cfg.text_config.hidden_size,
      imageSeqLen: procCfg.image_seq_len,
    };
    cfg.atman_demo = {
      ...cfg.atman_demo,
      accuracy: small.right / n,
      accuracy_measured_on: `${n} held-out scenes (task seed ${EVAL_SEED}), 64x64 PNG through the transformers.js processor, greedy answer then end token through onnxruntime, scripts/demo-vlm/evaluate.ts`,
      accuracy_256px: large.right / nLarge,
      accuracy_256px_measured_on: `the first ${nLarge} of those scenes rendered at 256x256, resized by the processor`,
    };
    writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + '\n');
    writeFileSync(join(dir, 'README.md'), readme(cfg.atman_demo, arch, small, large, n, nLarge, examples));
    console.log(`wrote ${dir}/examples/, README.md and the numbers into config.json`);
  }
  await vlm.release();
  console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

interface Arch {
  visionLayers: number;
  visionHidden: number;
  textLayers: number;
  textHidden: number;
  imageSeqLen: number;
}

function readme(
  demo: Record<string, unknown>,
  arch: Arch,
  small: { right: number; byKind: Record<string, [number, number]> },
  large: { right: number },
  n: number,
  nLarge: number,
  examples: Example[],
): string {
  const tr = (demo.training ?? {}) as Record<string, unknown>;
  const fmt = (x: number) => (100 * x).toFixed(1) + '%';
  const c = small.byKind.colour!;
  const s = small.byKind.shape!;
  const ex = examples
    .filter((e) => e.width === TASK.imageSize)
    .map((e) => `| \`${e.image}\` | ${e.question} | \`${e.answer.trim()}\` | ${e.evidence.left}, ${e.evidence.top}, ${e.evidence.width}x${e.evidence.height} |`)
    .join('\n');
  return `# ${MODEL_NAME}

A tiny vision-language model (Idefics3 / SmolVLM layout, ${tr.parameters} parameters) trained from scratch for
the AtMan playground, where the image region that holds the answer is known.

**Task.** ${TASK_DESCRIPTION}

**Prompt format.** \`${TASK.imageToken}<question>${TASK.answerStem}\`, e.g. \`${promptFor('What colour is the triangle?')}\`;
the model answers one word with its leading space (\` red\`, \` triangle\`) and then \`${TASK.endToken}\`.
The processor expands \`<image>\` to \`<fake_token_around_image><global-img>\` + ${arch.imageSeqLen} x \`<image>\` +
\`<fake_token_around_image>\` (one unsplit 64x64 frame, \`do_image_splitting: false\`; larger images are resized to 64x64).
\`tokenizer_config.json\` has a chat template that gives the same prompt for a user turn of an image and a question
(\`add_generation_prompt\` appends \`${TASK.answerStem}\`).

**Accuracy** (held-out scenes, greedy answer then end token, onnxruntime-node, images PNG-encoded and preprocessed by the
transformers.js processor; \`scripts/demo-vlm/evaluate.ts\`):

| images | accuracy |
| --- | --- |
| 64x64 PNG, ${n} scenes | ${fmt(small.right / n)} (colour questions ${fmt(c[0] / c[1])}, shape questions ${fmt(s[0] / s[1])}) |
| 256x256 PNG of the first ${nLarge} scenes, resized by the processor | ${fmt(large.right / nLarge)} |

**Examples** (\`examples/examples.json\`: each image at 64x64 and at 256x256, the question, the answer and the evidence box
\`{left, top, width, height}\` in pixels of that image):

| image | question | answer | evidence (left, top, size) |
| --- | --- | --- | --- |
${ex}

**Architecture.** Vision: 8x8 Conv patch embedding (64 patches) + learned positions, ${arch.visionLayers}
pre-LN ViT layers (hidden ${arch.visionHidden}, LayerNorm eps 1e-6, GELU tanh), post-LN; Idefics3 connector: pixel shuffle
(scale 2: ${arch.imageSeqLen} image tokens) and a bias-free linear projection. Text: ${arch.textLayers}-layer Llama decoder (hidden
${arch.textHidden}, RMSNorm, rotary, SiLU-gated MLP) with a key/value cache.
Files: \`onnx/vision_encoder.onnx\`, \`onnx/embed_tokens.onnx\`, \`onnx/decoder_model_merged.onnx\` (graphs written by
\`scripts/fixtures/idefics3.ts\` with the trained weights), \`config.json\`, \`preprocessor_config.json\`,
\`processor_config.json\`, tokenizer files (word-level byte BPE: every task word is one token).

**Training.** \`scripts/demo-vlm/train.py\` (Debian's python3-torch ${tr.torch}, CPU, ${tr.threads} threads): ${tr.steps} steps
of ${tr.batch_scenes} scenes (each scene with its own question and two more about the same image), AdamW, lr ${tr.lr} cosine,
curriculum from one shape to the task's 2-3, part of the images rendered larger and box-filtered (soft edges), ${tr.seconds} s
(a time limit: the lr schedule and curriculum follow elapsed time, so the step count depends on the machine).
Held-out accuracy in torch at the end of training: ${fmt(Number(demo.accuracy_torch))}.

**Rebuild.** \`sh scripts/demo-vlm/build.sh\` (make-tokenizer.ts, train.py, export.ts, evaluate.ts); export.ts checks that
task.ts and train.py draw and render the same scenes pixel for pixel, that the processor gives train.py's token ids, and
that onnxruntime reproduces torch's image features and logits. Test: \`npx vitest run scripts/demo-vlm\`.
`;
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('evaluate.ts')) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
