// npx tsx scripts/bench-attention.ts [-- --layers 6 --lengths 32,128 --mode log-additive]
// Fused attention kept (log-additive through GroupQueryAttention's attention_bias) against the same
// attention rewritten as standard ops (src/graph/fused/), side by side in one process, on a model in
// the onnxruntime-genai builder's layout (tiny-qwen2-builder's code at a larger size: hidden 512,
// 8 query / 2 KV heads, rotary inside the op; random weights, generated here, not committed).
// Prints seconds, batch size and prefix reuse per path, and the largest score difference between
// the two paths.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ControlMode } from '../src/core/types';
import { encodeModel } from '../src/graph/ir/onnx-ir';
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explain } from '../src/runtime/atman/explain';
import { type Explanation } from '../src/runtime/schema';
import { folderSource } from '../src/runtime/sources/folder-source';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import { type BuilderDims, buildQwen2Builder, qwen2Config } from './fixtures/genai-builder';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '6' },
    lengths: { type: 'string', default: '32,128' },
    mode: { type: 'string', default: 'log-additive' },
  },
});
const mode = values.mode as ControlMode;
if (mode !== 'log-additive') throw new Error('the fused path exists for log-additive mode only');

const FIXTURE = 'fixtures/models/tiny-qwen2-builder';
const dir = mkdtempSync(join(tmpdir(), 'atman-bench-attention-'));
const vocab = (JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
const dims: BuilderDims = { vocab, nLayer: Number(values.layers), nHead: 8, nKvHead: 2, headDim: 64, intermediate: 1536, maxPositions: 512, ropeTheta: 1e6, rmsEps: 1e-6 };
mkdirSync(join(dir, 'onnx'));
for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) cpSync(join(FIXTURE, f), join(dir, f));
writeFileSync(join(dir, 'config.json'), JSON.stringify(qwen2Config(dims, 0, 0)));
writeFileSync(join(dir, 'onnx/model.onnx'), encodeModel(buildQwen2Builder(dims)));

const words = 'the cat sat on the mat and the dog ran to the cat then they sat down '.repeat(40).split(' ');
const backend = createNodeBackend();
console.log(`builder layout, ${dims.nLayer} layers, hidden ${dims.nHead * dims.headDim}, ${dims.nHead} query / ${dims.nKvHead} KV heads, ${mode}, onnxruntime-node CPU`);
console.log('| prompt words | path | seconds | passes | batch | prefix reuse |');
console.log('| --- | --- | --- | --- | --- | --- |');
try {
  for (const n of values.lengths.split(',').map(Number)) {
    const prompt = words.slice(0, n).join(' ');
    const results: Explanation[] = [];
    for (const attention of ['fused', 'decomposed'] as const) {
      const model = await AtmanModel.load(folderSource(dir), backend, { mode, attention });
      try {
        await explain(model, { prompt: 'the cat sat', target: ' on the', settings: { mode } }); // warm-up
        const t0 = performance.now();
        const x = await explain(model, { prompt, target: ' on the mat', settings: { mode } });
        const seconds = (performance.now() - t0) / 1000;
        results.push(x);
        console.log(`| ${n} | ${attention} | ${seconds.toFixed(2)} | ${x.passes} | ${x.run.batchSize} | ${x.run.prefixReuse} |`);
      } finally {
        await model.release();
      }
    }
    const [a, b] = results as [Explanation, Explanation];
    const diff = Math.max(...a.units.map((u, i) => Math.abs(u.score - b.units[i]!.score)));
    const largest = Math.max(...a.units.map((u) => Math.abs(u.score)));
    console.log(`|  | largest score difference | ${diff.toExponential(1)} (largest score ${largest.toFixed(3)}) | | | |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
