// How many randomly damaged copies of a graph the load-time checks catch (src/graph/ir/check-model.ts).
// Usage: npx tsx scripts/fuzz-model-checks.ts [file.onnx] [bytes changed per copy] [copies]
// Defaults: fixtures/models/tiny-gpt2/onnx/model.onnx, 200, 300. Deterministic (seeded).
import { readFileSync } from 'node:fs';
import { parseModelFile, validateModel } from '../src/graph/ir/check-model';

const file = process.argv[2] ?? 'fixtures/models/tiny-gpt2/onnx/model.onnx';
const flips = Number(process.argv[3] ?? 200);
const copies = Number(process.argv[4] ?? 300);
const original = new Uint8Array(readFileSync(file));
let seed = 1;
const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const outcomes: Record<string, number> = {};
const t0 = performance.now();
for (let c = 0; c < copies; c++) {
  const bytes = original.slice();
  for (let i = 0; i < flips; i++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
  let outcome: string;
  try {
    validateModel(parseModelFile(bytes, file, 'fuzz'), file);
    outcome = 'passes the checks';
  } catch (e) {
    outcome = (e as { code?: string }).code ?? `untyped: ${(e as Error).message}`;
  }
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
}
console.log(`${file}: ${copies} copies with ${flips} bytes changed, ${((performance.now() - t0) / copies).toFixed(1)} ms each`);
for (const [k, v] of Object.entries(outcomes).sort((a, b) => b[1] - a[1])) console.log(`  ${k}: ${v}`);
