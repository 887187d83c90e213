// npm run bench [-- --layers 12 --lengths 32,64,128 --modes multiplicative,log-additive --backend cpu|wasm]
// AtMan on a GPT-2-small-shaped model (random weights, generated here, not
// committed): passes, seconds and passes per second for prompts of 32/64/128
// tokens, every variant in one run so they share the machine's conditions.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ortWeb from 'onnxruntime-web';
import type { ControlMode } from '../src/core/types';
import { encodeModel } from '../src/graph/onnx-ir';
import { AtmanModel } from '../src/runtime/atman-model';
import { explain } from '../src/runtime/explain';
import { folderSource } from '../src/runtime/node/folder-source';
import { createNodeBackend } from '../src/runtime/node/node-backend';
import { createWebBackend } from '../src/runtime/web-backend';
import { buildGpt2, gpt2Config } from './fixtures/gpt2';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '12' },
    lengths: { type: 'string', default: '32,64,128' },
    modes: { type: 'string', default: 'multiplicative,log-additive' },
    backend: { type: 'string', default: 'cpu' },
  },
});

const dims = { vocab: 50257, nLayer: Number(values.layers), nHead: 12, nEmbd: 768, nPositions: 1024 };
const dir = mkdtempSync(join(tmpdir(), 'atman-bench-'));
const TEXT =
  'The committee met on Tuesday to review the budget. Several members asked about the new library, which had opened in March. ' +
  'The treasurer said the costs were higher than planned because the roof needed repairs. After a long discussion the members agreed ' +
  'to postpone the vote until the next meeting, when the architect could present a revised estimate for the work on the east wing. ';

async function main(): Promise<void> {
  let t = performance.now();
  // The tiny fixture's tokenizer: its ids are a subset of GPT-2's vocabulary, and the bench measures the model, not the tokenizer.
  cpSync('fixtures/models/tiny-gpt2', dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(gpt2Config(dims, 0, 0)));
  writeFileSync(join(dir, 'onnx/model.onnx'), encodeModel(buildGpt2(dims).model));
  rmSync(join(dir, 'onnx/model_q4.onnx'));
  console.log(`generated GPT-2-small-shaped model (${dims.nLayer} layers, 768 hidden, vocab 50257) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  ortWeb.env.wasm.numThreads = 1;
  const backend =
    values.backend === 'wasm' ? createWebBackend(ortWeb, { webgpu: false, adapter: null, shaderF16: false, reason: 'Node' }, 'wasm') : createNodeBackend();
  const rows: string[][] = [['mode', 'prompt tokens', 'passes', 'batch', 'seconds', 'passes/s', 'backend']];
  for (const mode of values.modes.split(',') as ControlMode[]) {
    t = performance.now();
    const model = await AtmanModel.load(folderSource(dir), backend, { mode, selfCheck: true });
    console.log(`${mode}: rewrite + session + self-check in ${((performance.now() - t) / 1000).toFixed(1)} s (self-check max diff ${model.current.selfCheck?.maxAbsDiff.toExponential(2)})`);
    for (const n of values.lengths.split(',').map(Number)) {
      const tokens = model.tokenizer.encodePrompt(TEXT.repeat(8));
      const prompt = TEXT.repeat(8).slice(0, tokens[n - 1]!.end);
      const x = await explain(model, { prompt, target: ' The vote', settings: { mode, kappa: null } });
      const promptLen = x.tokens.filter((k) => k.role === 'prompt').length;
      rows.push([mode, String(promptLen), String(x.passes), String(x.batchSize), x.seconds.toFixed(2), (x.passes / x.seconds).toFixed(2), `${x.model.backend} (${x.model.device})`]);
      console.log(rows.at(-1)!.join('  '));
    }
    await model.release();
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log(`\n${rows.map((r) => r.map((v, c) => v.padEnd(widths[c]!)).join('  ')).join('\n')}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
