// A download whose length the server announced goes straight into one buffer; one that turns out
// shorter or longer than announced (a cut connection, a compressed body) still reads whole.
import { describe, expect, it } from 'vitest';
import { readStream } from './model-source';

const streamOf = (chunks: number[][]): ReadableStream<Uint8Array> =>
  new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(Uint8Array.from(x));
      c.close();
    },
  });

describe('readStream', () => {
  const chunks = [[1, 2, 3], [4], [5, 6, 7, 8]];
  const all = [1, 2, 3, 4, 5, 6, 7, 8];
  it('reads the same bytes with the announced length, a shorter or a longer one, or none', async () => {
    for (const expected of [8, 5, 20, undefined, 0]) {
      const loaded: number[] = [];
      const out = await readStream(streamOf(chunks), Infinity, (n) => loaded.push(n), expected);
      expect(Array.from(out!), `announced ${expected}`).toEqual(all);
      expect(out!.length).toBe(8);
      expect(loaded).toEqual([3, 4, 8]);
    }
  });
  it('stops past the limit', async () => {
    expect(await readStream(streamOf(chunks), 6, undefined, 8)).toBeNull();
    expect(Array.from((await readStream(streamOf(chunks), 8, undefined, 8))!)).toEqual(all);
  });
});
