// Broken model files fail at load with a typed error in words, before the rewriter or onnxruntime
// sees them: files cut short, bytes flipped, graphs that do not hold together, weights whose bytes
// do not match their shape, configs that claim more tokens or positions than the graph has.
// Every case damages a copy of a real fixture and loads it through a real onnxruntime-node session.
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Model, type Tensor, decodeModel, encodeModel, getAttr } from '../../graph/ir/onnx-ir';
import { type RawField, WireType, Writer, readFields } from '../../graph/ir/wire';
import { AtmanModel } from './atman-model';
import { explain } from './explain';
import { folderSource } from '../sources/folder-source';
import { cachedSource, forgetDamaged, listCachedModels } from '../sources/model-cache';
import { MemoryCache } from '../../testing/memory-cache';
import { AtmanError } from '../../core/errors';
import { createNodeBackend } from '../backends/node-backend';
import { expectCode } from '../../testing/expect-code';

const MODELS = 'fixtures/models';
const backend = createNodeBackend();
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of a fixture to damage. */
function copyOf(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `atman-damaged-${name}-`));
  dirs.push(dir);
  cpSync(join(MODELS, name), dir, { recursive: true });
  return dir;
}

/** Rewrites one graph file of a copy through the IR. */
function editGraph(dir: string, file: string, edit: (m: Model) => void): void {
  const m = decodeModel(new Uint8Array(readFileSync(join(dir, file))));
  edit(m);
  writeFileSync(join(dir, file), encodeModel(m));
}

/** Replaces a tensor's stored fields (the header decoder keeps `raw` as the whole TensorProto). */
function editTensor(t: Tensor, edit: (fields: RawField[]) => RawField[]): void {
  const w = new Writer();
  for (const f of edit(readFields(t.raw))) w.raw(f);
  t.raw = w.finish();
}

const load = (dir: string, dtype: 'fp32' | 'q4' = 'fp32') => AtmanModel.load(folderSource(dir), backend, { dtype });

/** Deterministic byte flips (a linear congruential generator, so failures reproduce). */
function flipBytes(bytes: Uint8Array, count: number, seed: number): Uint8Array {
  const out = bytes.slice();
  let s = seed;
  const next = (): number => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < count; i++) out[Math.floor(next() * out.length)] = Math.floor(next() * 256);
  return out;
}

describe('damaged ONNX files', () => {
  it('a graph cut in half is MODEL_DAMAGED, naming the file', async () => {
    const dir = copyOf('tiny-gpt2');
    const file = join(dir, 'onnx/model.onnx');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
    await expectCode(load(dir), 'MODEL_DAMAGED', /^onnx\/model\.onnx of .* is not a readable ONNX model \(truncated .*\): the download was cut short or the file is damaged\. Download it again\.$/);
    writeFileSync(file, new Uint8Array(0));
    await expectCode(load(dir), 'MODEL_DAMAGED', /the file is empty/);
  });

  it('a damaged file the browser cached is dropped, so the next load downloads it afresh', async () => {
    const dir = copyOf('tiny-gpt2');
    const file = join(dir, 'onnx/model.onnx');
    writeFileSync(file, readFileSync(file).subarray(0, 1000));
    const cache = new MemoryCache();
    const err = await AtmanModel.load(cachedSource(folderSource(dir), cache, 'acme/cut'), backend, { dtype: 'fp32' }).catch((e: unknown) => e);
    expect((await listCachedModels(cache)).map((m) => m.id)).toEqual(['acme/cut']);
    const told = (await forgetDamaged(err, cache, 'acme/cut')) as AtmanError;
    expect(told.code).toBe('MODEL_DAMAGED');
    expect(told.message).toMatch(/Download it again\. The copy this browser kept was removed; loading again downloads it afresh\.$/);
    expect(await listCachedModels(cache)).toEqual([]);
    // Other failures leave the cache alone.
    await cachedSource(folderSource(dir), cache, 'acme/cut').read('config.json');
    const other = new AtmanError('TOO_LONG', 'x');
    expect(await forgetDamaged(other, cache, 'acme/cut')).toBe(other);
    expect((await listCachedModels(cache)).length).toBe(1);
  });

  it('200 flipped bytes never load: each of 12 seeds is MODEL_DAMAGED or MODEL_INVALID', async () => {
    const dir = copyOf('tiny-gpt2');
    const file = join(dir, 'onnx/model.onnx');
    const original = new Uint8Array(readFileSync(file));
    const codes = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      writeFileSync(file, flipBytes(original, 200, seed));
      const err = await load(dir).then(
        (m) => (m.release(), null),
        (e: { code?: string }) => e,
      );
      expect(err?.code, `seed ${seed}: ${String((err as Error | null)?.message)}`).toMatch(/^MODEL_(DAMAGED|INVALID)$/);
      codes.add(err!.code!);
    }
    expect(codes.size).toBeGreaterThan(0);
  });

  it('a node reading a value nobody provides, or a missing weight, is MODEL_INVALID', async () => {
    const dangling = copyOf('tiny-gpt2');
    editGraph(dangling, 'onnx/model.onnx', (m) => {
      m.graph.nodes.find((n) => n.opType === 'MatMul')!.inputs[0] = 'nowhere';
    });
    await expectCode(load(dangling), 'MODEL_INVALID', /MatMul node .* reads "nowhere", which no node, graph input or weight provides/);

    const missing = copyOf('tiny-gpt2');
    let weight = '';
    editGraph(missing, 'onnx/model.onnx', (m) => {
      const i = m.graph.initializers.findIndex((t) => t.name.endsWith('c_fc.weight') || t.name.includes('mlp'));
      weight = m.graph.initializers[i]!.name;
      m.graph.initializers.splice(i, 1);
    });
    const msg = await expectCode(load(missing), 'MODEL_INVALID', /which no node, graph input or weight provides/);
    expect(msg).toContain(weight);
  });

  it('a cycle is MODEL_INVALID, not the rewriter\'s "graph has a cycle"', async () => {
    const dir = copyOf('tiny-gpt2');
    editGraph(dir, 'onnx/model.onnx', (m) => {
      // The first LayerNormalization now reads the output of a node that depends on it.
      const ln = m.graph.nodes.find((n) => n.opType === 'LayerNormalization')!;
      const later = m.graph.nodes.find((n) => n.opType === 'Softmax')!;
      ln.inputs[0] = later.outputs[0]!;
    });
    await expectCode(load(dir), 'MODEL_INVALID', /nodes form a cycle/);
  });

  it('weights whose bytes do not match their shape are MODEL_INVALID: raw_data and float_data', async () => {
    const raw = copyOf('tiny-gpt2');
    editGraph(raw, 'onnx/model.onnx', (m) => {
      const t = m.graph.initializers.find((x) => x.name === 'transformer.wpe.weight')!;
      editTensor(t, (fs) => fs.map((f) => (f.no === 9 ? { ...f, bytes: f.bytes!.subarray(4) } : f)));
    });
    await expectCode(load(raw), 'MODEL_INVALID', /the weight "transformer\.wpe\.weight" holds 16380 bytes where shape \[128, 32\] needs 16384/);

    const floats = copyOf('tiny-gpt2');
    editGraph(floats, 'onnx/model.onnx', (m) => {
      const t = m.graph.initializers.find((x) => x.name === 'transformer.wpe.weight')!;
      editTensor(t, (fs) => fs.map((f) => (f.no === 9 ? { no: 4, wt: WireType.Bytes, bytes: f.bytes!.subarray(0, 4 * 100) } : f)));
    });
    await expectCode(load(floats), 'MODEL_INVALID', /holds 100 values where shape \[128, 32\] needs 4096/);
  });

  it('external weights: a data file cut short, or a recorded length that does not match the shape, is MODEL_INVALID', async () => {
    const cut = copyOf('tiny-gpt2-external');
    truncateSync(join(cut, 'onnx/model.onnx_data'), 100_000);
    await expectCode(load(cut), 'MODEL_INVALID', /lies at bytes \d+ to \d+ of model\.onnx_data, which has only 100000 bytes/);

    const length = copyOf('tiny-gpt2-external');
    editGraph(length, 'onnx/model.onnx', (m) => {
      const t = m.graph.initializers.find((x) => readFields(x.raw).some((f) => f.no === 14 && f.varint === 1n))!;
      editTensor(t, (fs) =>
        fs.map((f) => {
          if (f.no !== 13) return f;
          const key = new TextDecoder().decode(readFields(f.bytes!).find((e) => e.no === 1)!.bytes!);
          if (key !== 'length') return f;
          const v = Number(new TextDecoder().decode(readFields(f.bytes!).find((e) => e.no === 2)!.bytes!));
          return { ...f, bytes: new Writer().string(1, 'length').string(2, String(v + 8)).finish() };
        }),
      );
    });
    await expectCode(load(length), 'MODEL_INVALID', /should take \d+ bytes for shape .* but its external data is \d+ bytes long/);
  });

  it('MatMulNBits packed weights that do not match K, N, bits and block_size are MODEL_INVALID', async () => {
    const dir = copyOf('tiny-qwen2-builder');
    editGraph(dir, 'onnx/model_q4.onnx', (m) => {
      const n = m.graph.nodes.find((x) => x.opType === 'MatMulNBits')!;
      const k = getAttr(n, 'K')!;
      k.i = k.i! * 2n;
    });
    await expectCode(load(dir, 'q4'), 'MODEL_INVALID', /MatMulNBits node .* has packed weights .* of \d+ elements where K \d+, N \d+, 4 bits in blocks of \d+ need \d+/);
  });
});

describe('configs that claim more than the graph holds', () => {
  it('a vocab_size larger than the embedding table: words past the table are TOKEN_OUT_OF_VOCABULARY, the rest explains', async () => {
    const dir = copyOf('ortgenai-tiny-random-gpt2');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: 50257 }));
    const model = await load(dir);
    try {
      expect(model.config.vocabSize).toBe(1000);
      expect(model.embeddings?.rows).toBe(1000);
      // GPT-2's tokenizer makes " cat" token 3797: outside the 1000-row table.
      await expectCode(explain(model, { prompt: 'The cat sat on the mat.', target: ' the' }), 'TOKEN_OUT_OF_VOCABULARY', /" cat" into token 3797.*0 to 999/);
      const x = await explain(model, { prompt: ' the man said that it was', target: ' the' });
      expect(x.units.length).toBeGreaterThan(0);
      expect(x.units.every((u) => Number.isFinite(u.score))).toBe(true);
      expect(() => model.embeddings!.row(3797)).toThrow(/Token 3797 has no row/);
    } finally {
      await model.release();
    }
  });

  it("a max_position_embeddings larger than GPT-2's wpe table: prompts past the table are TOO_LONG at its 128 rows", async () => {
    const dir = copyOf('tiny-gpt2');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, n_positions: 100_000, n_ctx: 100_000 }));
    const model = await load(dir);
    try {
      expect(model.config.maxPositions).toBe(128);
      await expectCode(explain(model, { prompt: 'the cat sat on the mat. '.repeat(40), target: ' on' }), 'TOO_LONG', /reads at most 128/);
    } finally {
      await model.release();
    }
  });
});
