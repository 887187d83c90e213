// Turns what train.py wrote into the bundled model folder (Hugging Face hub layout):
//   public/models/atman-demo-facts/{config.json, generation_config.json, tokenizer.json,
//   tokenizer_config.json, special_tokens_map.json, onnx/model.onnx}
// The graph is the project's Llama fixture layout (scripts/fixtures/llama.ts, eager attention with
// a key/value cache) or, for builds made with train.py --arch gpt2, its GPT-2 layout
// (scripts/fixtures/gpt2.ts), with the trained weights. Before writing, it checks that train.py's word-level token ids equal transformers.js's
// tokenisation of the same documents (and that task.ts generates the same documents), and after
// writing, that onnxruntime reproduces torch's logits.
//   npx tsx scripts/demo-model/export.ts [buildDir] [outDir]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel, type Model } from '../../src/graph/ir/onnx-ir';
import { makeTensor } from '../../src/graph/ir/onnx-build';
import { buildGpt2, gpt2Config, type Gpt2Dims } from '../fixtures/gpt2';
import { buildLlama, llamaConfig, type LlamaDims } from '../fixtures/llama';
import { DEFAULT_BUILD } from './make-tokenizer';
import { readWeights } from './weights';
import { HERE, TASK, TaskGenerator } from './task';

export const MODEL_DIR = resolve(HERE, '../../public/models/atman-demo-facts');
export const TASK_DESCRIPTION =
  'Synthetic fact lookup: 3-5 fact sentences about different people (lives in <city> / works as a <job> / owns a <pet> / likes the colour <colour>), then a question about one of them; the answer is the value in exactly one sentence.';

interface Manifest {
  tensors: Array<{ name: string; shape: number[]; offset: number }>;
  arch?: 'llama' | 'gpt2';
  dims: Gpt2Dims | LlamaDims;
  training: Record<string, number | string>;
  reference: Array<{ prompt: string; ids: number[]; lastLogits: number[] }>;
}

interface TokenCheck {
  seed: number;
  docs: Array<{ prompt: string; target: string; promptIds: number[]; targetIds: number[] }>;
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;
const sameIds = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Number(x) === Number(b[i]));

async function checkTokenization(build: string): Promise<number> {
  const check = readJson<TokenCheck>(join(build, 'token-check.json'));
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = dirname(build) + '/';
  const tok = await AutoTokenizer.from_pretrained(basename(build));
  const gen = new TaskGenerator(check.seed);
  for (const [i, d] of check.docs.entries()) {
    const mine = gen.next();
    if (mine.prompt !== d.prompt || mine.target !== d.target) throw new Error(`task.ts and train.py generate different documents at ${i}: ${mine.prompt} / ${d.prompt}`);
    const p = tok.encode(d.prompt) as number[];
    const t = tok.encode(d.target, { add_special_tokens: false }) as number[];
    if (!sameIds(p, d.promptIds) || !sameIds(t, d.targetIds)) {
      throw new Error(`train.py tokenises document ${i} differently from transformers.js:\n${d.prompt}\n${d.promptIds}\n${p}`);
    }
  }
  return check.docs.length;
}

/** The builder's random initializers replaced by the trained tensors of the same names and shapes. */
function withWeights(model: Model, weights: Map<string, Float32Array>): Model {
  const used = new Set<string>();
  model.graph.initializers = model.graph.initializers.map((t) => {
    const w = weights.get(t.name);
    if (!w) return t;
    if (w.length !== t.dims.reduce((a, b) => a * b, 1)) throw new Error(`trained ${t.name} has ${w.length} values, the graph wants ${t.dims.join('x')}`);
    used.add(t.name);
    return makeTensor(t.name, DataType.FLOAT, t.dims, w);
  });
  const unused = [...weights.keys()].filter((k) => !used.has(k));
  if (unused.length) throw new Error(`trained tensors the graph does not have: ${unused.join(', ')}`);
  const random = model.graph.initializers.filter((t) => t.dataType === DataType.FLOAT && t.dims.length > 0 && t.name.endsWith('.weight') && !used.has(t.name));
  if (random.length) throw new Error(`graph weights left untrained: ${random.map((t) => t.name).join(', ')}`);
  return model;
}

export async function exportModel(build: string, out: string): Promise<void> {
  const manifest = readJson<Manifest>(join(build, 'manifest.json'));
  const n = await checkTokenization(build);
  console.log(`tokenisation: train.py == transformers.js on ${n} documents (and task.ts == train.py generator)`);

  const weights = readWeights(build, manifest.tensors);
  const llama = manifest.arch === 'llama';
  // with the key/value cache as inputs and outputs (optimum's with-past layout): the engine can
  // then reuse the unperturbed pass's prefix (docs/method.md, speed-ups)
  const built = llama ? withWeights(buildLlama(manifest.dims as LlamaDims, 'eager').model, weights) : buildGpt2(manifest.dims as Gpt2Dims, { weights, past: true }).model;
  const graph = encodeModel(built);
  const kv = llama
    ? { heads: (manifest.dims as LlamaDims).nKvHead, headDim: (manifest.dims as LlamaDims).hidden / (manifest.dims as LlamaDims).nHead }
    : { heads: (manifest.dims as Gpt2Dims).nHead, headDim: (manifest.dims as Gpt2Dims).nEmbd / (manifest.dims as Gpt2Dims).nHead };

  const tokenizer = readJson<{ model: { vocab: Record<string, number> } }>(join(build, 'tokenizer.json'));
  const eos = tokenizer.model.vocab['<|endoftext|>']!;
  const tr = manifest.training;
  const config = {
    ...(llama ? llamaConfig(manifest.dims as LlamaDims, eos, eos) : gpt2Config(manifest.dims as Gpt2Dims, eos, eos)),
    _name_or_path: 'atman-demo-facts',
    atman_demo: {
      task: TASK_DESCRIPTION,
      accuracy: tr.heldOutExactAccuracy,
      accuracy_measured_on: `${tr.heldOutDocuments} held-out documents (task seed ${tr.heldOutSeed}), greedy answer then <|endoftext|>, torch`,
      trained_by: 'scripts/demo-model/train.py',
      exported_by: 'scripts/demo-model/export.ts',
      training: { steps: tr.steps, batch: tr.batch, lr: tr.lr, seconds: tr.seconds, threads: tr.threads, torch: tr.torch, parameters: tr.parameters },
      pools: { names: TASK.names.length, ...Object.fromEntries(TASK.kinds.map((k) => [k.kind, k.values.length])) },
    },
  };
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'onnx'), { recursive: true });
  writeFileSync(join(out, 'config.json'), json(config));
  writeFileSync(join(out, 'generation_config.json'), json({ _from_model_config: true, bos_token_id: eos, eos_token_id: eos, transformers_version: '4.46.3' }));
  writeFileSync(join(out, 'tokenizer.json'), json(tokenizer));
  writeFileSync(join(out, 'tokenizer_config.json'), readFileSync(join(build, 'tokenizer_config.json')));
  writeFileSync(join(out, 'special_tokens_map.json'), json({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' }));
  writeFileSync(join(out, 'onnx/model.onnx'), graph);

  // onnxruntime vs torch
  const session = await ort.InferenceSession.create(join(out, 'onnx/model.onnx'));
  let worst = 0;
  for (const r of manifest.reference) {
    const S = r.ids.length;
    const i64 = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, S]);
    const feeds: Record<string, ort.Tensor> = { input_ids: i64(r.ids), attention_mask: i64(r.ids.map(() => 1)), position_ids: i64(r.ids.map((_, i) => i)) };
    for (const name of session.inputNames) {
      if (name.startsWith('past_key_values.')) feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, kv.heads, 0, kv.headDim]);
    }
    const res = await session.run(feeds, ['logits']);
    const logits = res.logits!.data as Float32Array;
    const V = manifest.dims.vocab;
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[(S - 1) * V + v]! - r.lastLogits[v]!));
  }
  await session.release();
  console.log(`onnxruntime vs torch logits: max abs diff ${worst.toExponential(2)} on ${manifest.reference.length} documents`);
  if (!(worst < 1e-3)) throw new Error('the exported graph does not reproduce the trained model');
  console.log(`wrote ${out} (onnx/model.onnx ${(graph.length / 2 ** 20).toFixed(2)} MiB)`);
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('export.ts')) {
  const build = resolve(process.argv[2] ?? DEFAULT_BUILD);
  const out = resolve(process.argv[3] ?? MODEL_DIR);
  exportModel(build, out).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
