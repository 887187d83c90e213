import { describe, expect, it } from 'vitest';
import { isAtmanError } from './errors';
import { ATTENTION_COPIES, ACTIVATION_WIDTHS, DEFAULT_MEMORY_BUDGET, MAX_BATCH, type MemoryShape, estimatePassMemory, formatBytes, parseByteSize, planBatch } from './memory-budget';

// GPT-2 small: 12 layers, 12 heads of 64, hidden 768, MLP 3072, vocab 50257; fp32; score head on 4 target rows.
const gpt2 = (S: number, over: Partial<MemoryShape> = {}): MemoryShape => ({
  numLayers: 12, numHeads: 12, numKvHeads: 12, headDim: 64, hiddenSize: 768, vocab: 50257,
  seqLen: S, logitRows: 4, prefixReuse: true, elementBytes: 4, ...over,
});

describe('estimatePassMemory', () => {
  it('adds up keys and values, attention scores, activations and the head by hand', () => {
    const shape: MemoryShape = { numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, hiddenSize: 32, vocab: 100, seqLen: 10, logitRows: 3, prefixReuse: false, elementBytes: 4 };
    const e = estimatePassMemory(shape);
    // no prefix: the presents only, 2 (k, v) x 2 layers x 2 kv heads x 8 x 10 rows x 4 bytes
    expect(e.parts.keyValues).toBe(2 * 2 * 2 * 8 * 10 * 4);
    expect(e.parts.attention).toBe(6 * 4 * 10 * 10 * 4);
    expect(e.parts.activations).toBe(10 * (ACTIVATION_WIDTHS * 32 + 2 * 128) * 4);
    expect(e.parts.head).toBe(2 * 4 * 3 * 100);
    expect(e.perItemBytes).toBe(2560 + 9600 + 17920 + 2400);
    expect(e.fixedBytes).toBe(0);
  });

  it('with prefix reuse takes the worse end: all rows recomputed, or one row over a tiled prefix', () => {
    const S = 1000;
    const e = estimatePassMemory(gpt2(S));
    const kvRow = 2 * 12 * 12 * 64 * 4;
    expect(e.fixedBytes).toBe(kvRow * S);
    // start 0 wins on GPT-2 small at 1000 rows: S x S scores outweigh a second copy of the keys and values
    expect(e.parts.attention).toBe(ATTENTION_COPIES * 12 * S * S * 4);
    expect(e.parts.keyValues).toBe(kvRow * S);
    // a long cache and few heads: the late start (one row, prefix of S - 1 rows plus S presents) is worse
    const narrow = estimatePassMemory(gpt2(S, { numHeads: 1, numKvHeads: 1, headDim: 768, logitRows: 1 }));
    expect(narrow.parts.keyValues).toBe(2 * 12 * 768 * 4 * (S - 1 + S));
    expect(narrow.parts.attention).toBe(ATTENTION_COPIES * 1 * 1 * S * 4);
  });

  it('counts fp16 activations at two bytes, encoder columns as attention keys, and the full logits without the score head', () => {
    expect(estimatePassMemory(gpt2(128, { elementBytes: 2 })).parts.attention).toBe(estimatePassMemory(gpt2(128)).parts.attention / 2);
    expect(estimatePassMemory(gpt2(128, { prefixReuse: false, encoderLength: 50 })).parts.attention).toBe(ATTENTION_COPIES * 12 * 128 * 178 * 4);
    expect(estimatePassMemory(gpt2(128, { logitRows: 128 })).parts.head).toBe(2 * 4 * 128 * 50257);
  });
});

describe('planBatch', () => {
  it('takes the biggest batch whose fixed part plus items fit, within 1..MAX_BATCH', () => {
    const e = estimatePassMemory(gpt2(128));
    expect(planBatch(gpt2(128), e.fixedBytes + 3 * e.perItemBytes).batchSize).toBe(3);
    expect(planBatch(gpt2(128), e.fixedBytes + 3 * e.perItemBytes - 1).batchSize).toBe(2);
    expect(planBatch(gpt2(128), 1e15).batchSize).toBe(MAX_BATCH);
    const tight = planBatch(gpt2(128), 1000);
    expect(tight).toMatchObject({ batchSize: 1, fits: false });
    expect(tight.estimateBytes).toBe(e.fixedBytes + e.perItemBytes);
  });

  it('shrinks the batch as the prompt grows, and keeps 128 and 1000 rows within the same budget', () => {
    const sizes = [32, 128, 256, 512, 1000].map((S) => planBatch(gpt2(S), DEFAULT_MEMORY_BUDGET));
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]!.batchSize).toBeLessThanOrEqual(sizes[i - 1]!.batchSize);
    expect(sizes[0]!.batchSize).toBeGreaterThan(sizes[4]!.batchSize);
    for (const p of sizes) expect(p.estimateBytes).toBeLessThanOrEqual(DEFAULT_MEMORY_BUDGET);
  });
});

describe('parseByteSize', () => {
  it('reads decimal and binary units', () => {
    expect(parseByteSize('2GB')).toBe(2e9);
    expect(parseByteSize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseByteSize('1.5 GiB')).toBe(1.5 * 2 ** 30);
    expect(parseByteSize('4096')).toBe(4096);
    expect(parseByteSize('64kb')).toBe(64_000);
  });
  it.each(['', 'lots', '-1GB', '0', '2 GBs', '1e9', '3 PB'])('refuses %j with a typed error', (s) => {
    let err: unknown;
    try {
      parseByteSize(s);
    } catch (e) {
      err = e;
    }
    expect(isAtmanError(err, 'BAD_SETTING')).toBe(true);
    expect((err as Error).message).toMatch(/512MiB, 2GB/);
  });
  it('formats KiB, MiB and GiB', () => {
    expect(formatBytes(512 * 2 ** 20)).toBe('512.0 MiB');
    expect(formatBytes(3 * 2 ** 30)).toBe('3.00 GiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });
});
