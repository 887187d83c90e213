// Exports with a `num_logits_to_keep` input slice the hidden states to their last k rows before
// the LM head (k = 0 keeps all). The engine must feed 0 and explain exactly as without the input.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { producers } from '../../graph/ir/graph-utils';
import { DataType, decodeModel, encodeModel } from '../../graph/ir/onnx-ir';
import { makeNode, makeTensor, makeValueInfo } from '../../graph/ir/onnx-build';
import { AtmanModel } from '../atman/atman-model';
import { explain } from '../atman/explain';
import { folderSource } from '../sources/folder-source';
import { createNodeBackend } from '../backends/node-backend';

const backend = createNodeBackend();
const FIXTURE = 'fixtures/models/tiny-llama';
const dir = mkdtempSync(join(tmpdir(), 'atman-keep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function withLogitsToKeep(name: string): string {
  const out = join(dir, name);
  cpSync(FIXTURE, out, { recursive: true });
  const m = decodeModel(new Uint8Array(readFileSync(join(out, 'onnx/model.onnx'))));
  const g = m.graph;
  const head = producers(g).get('logits')!;
  expect(head.opType).toBe('MatMul');
  const hidden = head.inputs[0]!;
  g.inputs.push(makeValueInfo(name, DataType.INT64, []));
  g.initializers.push(
    makeTensor('keep_axes', DataType.INT64, [1], new BigInt64Array([1n])),
    makeTensor('keep_end', DataType.INT64, [1], new BigInt64Array([9223372036854775807n])),
    makeTensor('keep_unsq', DataType.INT64, [1], new BigInt64Array([0n])),
  );
  g.nodes.push(
    makeNode('Neg', [name], ['keep_neg']),
    makeNode('Unsqueeze', ['keep_neg', 'keep_unsq'], ['keep_start']),
    makeNode('Slice', [hidden, 'keep_start', 'keep_end', 'keep_axes'], ['kept_hidden']),
  );
  head.inputs[0] = 'kept_hidden';
  writeFileSync(join(out, 'onnx/model.onnx'), encodeModel(m));
  return out;
}

describe('num_logits_to_keep / logits_to_keep inputs', () => {
  it.each(['num_logits_to_keep', 'logits_to_keep'])('%s: fed 0, scores equal the plain export', async (input) => {
    const prompt = 'The cat sat on the mat.';
    const target = ' The cat';
    const plain = await AtmanModel.load(folderSource(FIXTURE), backend);
    const sliced = await AtmanModel.load(folderSource(withLogitsToKeep(input)), backend);
    try {
      expect(sliced.current.inputs.some((v) => v.name === input)).toBe(true);
      const a = await explain(plain, { prompt, target });
      const b = await explain(sliced, { prompt, target });
      expect(b.units.length).toBe(a.units.length);
      b.units.forEach((u, i) => expect(Math.abs(u.score - a.units[i]!.score)).toBeLessThanOrEqual(1e-6));
    } finally {
      await plain.release();
      await sliced.release();
    }
  });
});
