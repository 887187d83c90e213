// Turns what train.py wrote into the bundled model folder (Hugging Face hub layout, as SmolVLM's
// ONNX export): public/models/atman-demo-shapes/{config.json, generation_config.json,
// preprocessor_config.json, processor_config.json, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json, onnx/{vision_encoder,embed_tokens,decoder_model_merged}.onnx}
// The graphs are the project's Idefics3 fixture layout (scripts/fixtures/idefics3.ts) with the
// trained weights. Before writing, it checks that task.ts generates and renders the same scenes as
// train.py; after writing, that transformers.js's processor gives train.py's token ids for them,
// and that onnxruntime reproduces torch's image features and logits.
//   npx tsx scripts/demo-vlm/export.ts [buildDir] [outDir]
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodeModel } from '../../src/graph/ir/onnx-ir';
import { buildIdefics3, idefics3Config, idefics3PreprocessorConfig, idefics3ProcessorConfig, type Idefics3Dims } from '../fixtures/idefics3';
import { readWeights } from '../demo-model/weights';
import { DEFAULT_BUILD, FAKE_IMAGE_TOKEN } from './make-tokenizer';
import { rawImage, ShapesVlm } from './pipeline';
import { HERE, promptFor, renderScene, type Scene, SceneGenerator, TASK, trainingPixels } from './task';

export const MODEL_NAME = 'atman-demo-shapes';
export const MODEL_DIR = resolve(HERE, '../../public/models', MODEL_NAME);
export const TASK_DESCRIPTION =
  'Synthetic shapes: a 64x64 image with 2-3 solid shapes (circle, square, triangle; distinct kinds and colours from red, green, blue, yellow, purple, orange) on a light background, and one question: "What colour is the <shape>?" or "Which shape is <colour>?"; the answer is read off one shape, whose bounding box is the evidence region.';

export interface TrainDims {
  imageSize: number;
  patchSize: number;
  scaleFactor: number;
  visionHidden: number;
  visionLayers: number;
  visionHeads: number;
  visionIntermediate: number;
  layerNormEps: number;
  textHidden: number;
  textLayers: number;
  textHeads: number;
  textKvHeads: number;
  textIntermediate: number;
  rmsNormEps: number;
  ropeTheta: number;
  vocab: number;
  maxPositions: number;
  imageSeqLen: number;
}

export interface Manifest {
  tensors: Array<{ name: string; shape: number[]; offset: number }>;
  dims: TrainDims;
  training: Record<string, unknown>;
  reference: Array<{ scene: Scene; ids: number[]; imageFeatures: number[]; logits: number[] }>;
}

interface SceneCheck {
  seed: number;
  scenes: Array<Scene & { sha256: Record<string, string>; promptIds: number[]; targetIds: number[] }>;
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

export function idefics3Dims(d: TrainDims): Idefics3Dims {
  return {
    vision: { hidden: d.visionHidden, nLayer: d.visionLayers, nHead: d.visionHeads, intermediate: d.visionIntermediate, patch: d.patchSize, imageSize: d.imageSize, eps: d.layerNormEps },
    scaleFactor: d.scaleFactor,
    text: {
      vocab: d.vocab,
      nLayer: d.textLayers,
      nHead: d.textHeads,
      nKvHead: d.textKvHeads,
      hidden: d.textHidden,
      intermediate: d.textIntermediate,
      maxPositions: d.maxPositions,
      ropeTheta: d.ropeTheta,
      rmsEps: d.rmsNormEps,
    },
  };
}

/** task.ts draws and renders the scenes train.py drew and rendered (same seed, same pixels). */
function checkScenes(check: SceneCheck): void {
  const gen = new SceneGenerator(check.seed);
  for (const [i, c] of check.scenes.entries()) {
    const { sha256, promptIds: _p, targetIds: _t, ...theirs } = c;
    const mine = gen.next();
    if (JSON.stringify(mine) !== JSON.stringify(theirs)) throw new Error(`task.ts and train.py draw different scenes at ${i}:\n${JSON.stringify(mine)}\n${JSON.stringify(theirs)}`);
    for (const [scale, hash] of Object.entries(sha256)) {
      if (createHash('sha256').update(renderScene(mine, Number(scale))).digest('hex') !== hash) throw new Error(`task.ts and train.py render scene ${i} differently at scale ${scale}`);
    }
  }
}

export async function exportModel(build: string, out: string): Promise<void> {
  const manifest = readJson<Manifest>(join(build, 'manifest.json'));
  const check = readJson<SceneCheck>(join(build, 'scene-check.json'));
  checkScenes(check);
  console.log(`scenes: task.ts == train.py on ${check.scenes.length} scenes (layout, question, pixels at scales 1 and 4)`);

  const d = idefics3Dims(manifest.dims);
  const { visionEncoder, embedTokens, decoder } = buildIdefics3(d, { weights: readWeights(build, manifest.tensors) });
  const tokenizer = readJson<{ model: { vocab: Record<string, number> } }>(join(build, 'tokenizer.json'));
  const vocab = tokenizer.model.vocab;
  const ids = { image: vocab[TASK.imageToken]!, bos: vocab['<|endoftext|>']!, eos: vocab[TASK.endToken]!, pad: vocab['<|endoftext|>']! };
  const tr = manifest.training;
  const config = {
    ...idefics3Config(d, ids),
    _name_or_path: MODEL_NAME,
    atman_demo: {
      task: TASK_DESCRIPTION,
      prompt_format: `${TASK.imageToken}<question>${TASK.answerStem}`,
      example_prompt: promptFor(TASK.colourQuestion.replace('{shape}', 'triangle')),
      accuracy: tr.heldOutAccuracy,
      accuracy_measured_on: `${tr.heldOutScenes} held-out scenes (task seed ${tr.heldOutSeed}), answer token at the prompt's end, torch`,
      accuracy_torch: tr.heldOutAccuracy,
      trained_by: 'scripts/demo-vlm/train.py',
      exported_by: 'scripts/demo-vlm/export.ts',
      training: { steps: tr.steps, batch_scenes: tr.batchScenes, lr: tr.lr, seconds: tr.seconds, threads: tr.threads, torch: tr.torch, parameters: tr.parameters },
    },
  };
  // One unsplit 64x64 frame: larger images are resized to it (Lanczos, as SmolVLM's resample 1).
  const preprocessor = { ...idefics3PreprocessorConfig(d, d.vision.imageSize), do_image_splitting: false };
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'onnx'), { recursive: true });
  writeFileSync(join(out, 'config.json'), json(config));
  writeFileSync(
    join(out, 'generation_config.json'),
    json({ _from_model_config: true, bos_token_id: ids.bos, eos_token_id: ids.eos, pad_token_id: ids.pad, transformers_version: '4.46.3' }),
  );
  writeFileSync(join(out, 'preprocessor_config.json'), json(preprocessor));
  writeFileSync(join(out, 'processor_config.json'), json(idefics3ProcessorConfig(d)));
  writeFileSync(join(out, 'tokenizer.json'), json(tokenizer));
  writeFileSync(join(out, 'tokenizer_config.json'), readFileSync(join(build, 'tokenizer_config.json')));
  writeFileSync(
    join(out, 'special_tokens_map.json'),
    json({
      additional_special_tokens: [FAKE_IMAGE_TOKEN, TASK.imageToken, TASK.endToken],
      bos_token: '<|endoftext|>',
      eos_token: TASK.endToken,
      pad_token: '<|endoftext|>',
      unk_token: '<|endoftext|>',
    }),
  );
  const graphs = { 'vision_encoder.onnx': visionEncoder, 'embed_tokens.onnx': embedTokens, 'decoder_model_merged.onnx': decoder };
  let bytes = 0;
  for (const [name, model] of Object.entries(graphs)) {
    const data = encodeModel(model);
    bytes += data.length;
    writeFileSync(join(out, 'onnx', name), data);
  }

  const vlm = await ShapesVlm.load(out);
  try {
    // the processor's token ids are train.py's
    for (const [i, c] of check.scenes.slice(0, 50).entries()) {
      const p = await vlm.process(promptFor(c.question), rawImage(renderScene(c), TASK.imageSize));
      if (p.inputIds.join() !== c.promptIds.join()) throw new Error(`the processor tokenises scene ${i} differently from train.py:\n${p.inputIds}\n${c.promptIds}`);
      const t = vlm.processor.tokenizer!.encode(c.target, { add_special_tokens: false }) as number[];
      if (t.join() !== c.targetIds.join()) throw new Error(`the tokenizer encodes ${c.target} as ${t}, train.py as ${c.targetIds}`);
    }
    console.log('tokenisation: transformers.js processor == train.py on 50 scenes');

    // onnxruntime vs torch, on train.py's own pixels and ids
    let worstFeat = 0;
    let worstLogit = 0;
    const S = TASK.imageSize;
    for (const r of manifest.reference) {
      const px = trainingPixels(renderScene(r.scene), S);
      const feats = await vlm.imageFeatures({ pixelValues: { data: px, dims: [1, 1, 3, S, S] }, pixelAttentionMask: { data: new Uint8Array(S * S).fill(1), dims: [1, 1, S, S] } });
      const f = feats.data as Float32Array;
      if (f.length !== r.imageFeatures.length) throw new Error(`image_features has ${f.length} values, torch ${r.imageFeatures.length}`);
      for (let i = 0; i < f.length; i++) worstFeat = Math.max(worstFeat, Math.abs(f[i]! - r.imageFeatures[i]!));
      const { logits } = await vlm.decode(await vlm.mergedEmbeds(r.ids, feats), 0, null);
      if (logits.length !== r.logits.length) throw new Error(`logits has ${logits.length} values, torch ${r.logits.length}`);
      for (let i = 0; i < logits.length; i++) worstLogit = Math.max(worstLogit, Math.abs(logits[i]! - r.logits[i]!));
    }
    console.log(
      `onnxruntime vs torch on ${manifest.reference.length} scenes: image_features max abs diff ${worstFeat.toExponential(2)}, logits (every position) ${worstLogit.toExponential(2)}`,
    );
    if (!(worstFeat < 1e-4 && worstLogit < 1e-4)) throw new Error('the exported graphs do not reproduce the trained model');
  } finally {
    await vlm.release();
  }
  console.log(`wrote ${out} (onnx ${(bytes / 2 ** 20).toFixed(2)} MiB)`);
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('export.ts')) {
  const build = resolve(process.argv[2] ?? DEFAULT_BUILD);
  const out = resolve(process.argv[3] ?? MODEL_DIR);
  exportModel(build, out).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
