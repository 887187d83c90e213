import { describe, expect, it } from 'vitest';
import { isAtmanError } from './errors';
import type { Granularity, TokenInfo, Unit } from './types';
import { buildUnits, segmentsOf, type BuildUnitsOptions } from './units';

const BOS = '<s>';

/** Tokens for a prompt written as pieces (concatenated = prompt text); '<s>' is an added special token. */
function tokenize(pieces: string[], target: string[] = []): { tokens: TokenInfo[]; text: string } {
  const tokens: TokenInfo[] = [];
  let text = '';
  pieces.forEach((p, i) => {
    if (p === BOS) {
      tokens.push({ id: 1, text: BOS, start: text.length, end: text.length, role: 'prompt', special: true });
    } else {
      tokens.push({ id: 100 + i, text: p, start: text.length, end: text.length + p.length, role: 'prompt', special: false });
      text += p;
    }
  });
  let t = 0;
  for (const p of target) {
    tokens.push({ id: 500 + t, text: p, start: t, end: t + p.length, role: 'target', special: false });
    t += p.length;
  }
  return { tokens, text };
}

const opts: BuildUnitsOptions = { tokenOverlap: 'complete', targetTokenUnits: false };
const build = (pieces: string[], g: Granularity, o: Partial<BuildUnitsOptions> = {}) => {
  const { tokens, text } = tokenize(pieces);
  return buildUnits(tokens, text, g, { ...opts, ...o });
};
const labels = (units: Unit[]) => units.map((u) => u.label);
const positions = (units: Unit[]) => units.map((u) => u.positions);

// Every prompt position in exactly one unit.
function expectPartition(units: Unit[], promptLen: number) {
  const seen = units.flatMap((u) => u.positions).sort((a, b) => a - b);
  expect(seen).toEqual(Array.from({ length: promptLen }, (_, i) => i));
}

describe('token granularity', () => {
  it('makes one unit per token, BOS included, labels trimmed but never empty', () => {
    const units = build([BOS, 'Hello', ' world', '\n', '  '], { kind: 'token' });
    expect(labels(units)).toEqual([BOS, 'Hello', 'world', '\n', '  ']);
    expect(positions(units)).toEqual([[0], [1], [2], [3], [4]]);
    expect(units[0]!.source).toBe('special');
    expect(units[0]!.span).toBeUndefined();
    expect(units[2]!.span).toEqual([5, 11]);
    expect(units.every((u) => u.coverage === undefined)).toBe(true);
  });

  it('adds earlier target tokens as units when asked, never the last one', () => {
    const { tokens, text } = tokenize([BOS, 'Q', ':'], [' A', ' B', ' C']);
    const units = buildUnits(tokens, text, { kind: 'token' }, { ...opts, targetTokenUnits: true });
    expect(positions(units)).toEqual([[0], [1], [2], [3], [4]]);
    expect(units.slice(3).map((u) => [u.label, u.source, u.span])).toEqual([
      ['A', 'target', [0, 2]],
      ['B', 'target', [2, 4]],
    ]);
  });
});

describe('word granularity', () => {
  it('keeps repeated words as separate units', () => {
    const units = build([BOS, 'the', ' cat', ' saw', ' the', ' cat'], { kind: 'word' });
    expect(labels(units)).toEqual([BOS, 'the', 'cat', 'saw', 'the', 'cat']);
    expect(positions(units)).toEqual([[0], [1], [2], [3], [4], [5]]);
    expect(units[2]!.span).toEqual([4, 7]);
  });

  it('joins whitespace-only tokens to the next word, or the previous one at the end', () => {
    const units = build(['  ', 'hello', ' ', ' ', 'world', '\n'], { kind: 'word' });
    expect(labels(units)).toEqual(['hello', 'world']);
    expect(positions(units)).toEqual([[0, 1], [2, 3, 4, 5]]);
  });

  it('assigns a token spanning a word boundary by its first non-space character', () => {
    const units = build(['The', ' cat.', ' Then'], { kind: 'word' });
    expect(labels(units)).toEqual(['The', 'cat', 'Then']);
    expect(positions(units)).toEqual([[0], [1], [2]]);
  });

  it('makes punctuation its own unit', () => {
    const units = build(['Hi', '!', '!', ' ok', '?'], { kind: 'word' });
    expect(labels(units)).toEqual(['Hi', '!', '!', 'ok', '?']);
  });

  it('handles accents, CJK, ZWJ emoji and combining marks split across tokens', () => {
    const family = '👨‍👩‍👧'; // 8 UTF-16 units
    const units = build(
      ['caf', 'é', ' 日', '本語', ' ', family.slice(0, 1), family.slice(1, 5), family.slice(5), ' e', '\u0301', 't'],
      { kind: 'word' },
    );
    expect(labels(units)).toEqual(['café', '日本語', family, 'e\u0301t']);
    expect(positions(units)).toEqual([[0, 1], [2, 3], [4, 5, 6, 7], [8, 9, 10]]);
  });

  it('makes a whitespace-only prompt a single unit instead of losing it', () => {
    const units = build([BOS, ' ', '\n'], { kind: 'word' });
    expect(positions(units)).toEqual([[0], [1, 2]]);
    expect(labels(units)[1]).toBe(' \n');
  });
});

describe('sentence granularity', () => {
  it('follows Intl.Segmenter on abbreviations without losing a token', () => {
    const pieces = [BOS, 'Dr', '.', ' Smith', ' went', ' home', '.', ' He', ' slept'];
    const units = build(pieces, { kind: 'sentence' });
    expect(labels(units)).toEqual([BOS, 'Dr.', 'Smith went home.', 'He slept']);
    expectPartition(units, pieces.length);
  });

  it('puts a token covering "s." with the sentence it starts in', () => {
    const units = build(['It', ' is', ' hi', 's.', ' Then', ' more'], { kind: 'sentence' });
    expect(labels(units)).toEqual(['It is his.', 'Then more']);
    expect(positions(units)).toEqual([[0, 1, 2, 3], [4, 5]]);
  });

  it('does not make a unit of a lone newline sentence', () => {
    const units = build(['A', '.', ' \n', '\n', 'B'], { kind: 'sentence' });
    expect(labels(units)).toEqual(['A.', 'B']);
    expectPartition(units, 5);
  });
});

describe('paragraph granularity', () => {
  it('splits on blank lines and keeps separators with the paragraph before', () => {
    const units = build(['One', ' two', '.\n', '\n', '  \n', 'Three', '\n\n', 'Four'], { kind: 'paragraph' });
    expect(labels(units)).toEqual(['One two.', 'Three', 'Four']);
    expect(positions(units)).toEqual([[0, 1, 2, 3, 4], [5, 6], [7]]);
  });

  it('sends a token that starts with blank lines to the paragraph of its first visible character', () => {
    const units = build(['A', '\n\nB', ' c'], { kind: 'paragraph' });
    expect(positions(units)).toEqual([[0], [1, 2]]);
  });

  it('floats leading blank lines to the first paragraph', () => {
    const units = build(['\n\n', 'Hi'], { kind: 'paragraph' });
    expect(positions(units)).toEqual([[0, 1]]);
    expect(labels(units)).toEqual(['Hi']);
  });
});

describe('delimiter granularity', () => {
  it('keeps the delimiter with the chunk before it', () => {
    const units = build(['a', ';', 'b', ';', ';', 'c'], { kind: 'delimiter', delimiter: ';' });
    expect(labels(units)).toEqual(['a;', 'b;', ';', 'c']);
    expect(positions(units)).toEqual([[0, 1], [2, 3], [4], [5]]);
  });

  it('treats the delimiter literally and keeps a newline delimiter with the line before', () => {
    expect(segmentsOf('x.*y.*', { kind: 'delimiter', delimiter: '.*' })).toEqual([[0, 3], [3, 6]]);
    const units = build(['l1', '\n', 'l2', '\n'], { kind: 'delimiter', delimiter: '\n' });
    expect(positions(units)).toEqual([[0, 1], [2, 3]]);
  });
});

describe('chunks', () => {
  it('covers partially covered tokens by fraction in partial mode', () => {
    const pieces = [BOS, 'hello', ' world', '!'];
    const partial = build(pieces, { kind: 'chunks', chunks: [[2, 7], [11, 12]] }, { tokenOverlap: 'partial' });
    expect(partial.map((u) => [u.label, u.positions, u.coverage])).toEqual([
      ['llo w', [1, 2], [3 / 5, 2 / 6]],
      ['!', [3], undefined],
    ]);
    const complete = build(pieces, { kind: 'chunks', chunks: [[2, 8]] });
    expect(complete[0]!.positions).toEqual([1, 2]);
    expect(complete[0]!.coverage).toBeUndefined();
  });

  it('leaves uncovered tokens and special tokens out of every unit', () => {
    const units = build([BOS, 'a', ' b', ' c'], { kind: 'chunks', chunks: [[0, 1]] });
    expect(positions(units)).toEqual([[1]]);
  });

  it('refuses a chunk that covers no token or lies outside the prompt', () => {
    const { tokens } = tokenize(['ab', 'cd']);
    const gappy = tokens.map((t, i) => (i === 1 ? { ...t, start: 4, end: 6 } : t));
    expect(() => buildUnits(gappy, 'ab  cd', { kind: 'chunks', chunks: [[2, 4]] }, opts)).toThrow(/covers no prompt token/);
    expect(() => build(['ab'], { kind: 'chunks', chunks: [[0, 5]] })).toThrow(/outside the prompt/);
  });
});

describe('input checks', () => {
  it('refuses prompt tokens after target tokens and spans outside the prompt', () => {
    const { tokens, text } = tokenize(['a', 'b'], ['c']);
    const swapped = [tokens[0]!, tokens[2]!, tokens[1]!];
    expect(() => buildUnits(swapped, text, { kind: 'token' }, opts)).toThrow(expect.objectContaining({ code: 'TOKENIZER_FAILED' }));
    const outside = [{ ...tokens[0]!, end: 9 }];
    try {
      buildUnits(outside, text, { kind: 'word' }, opts);
      expect.unreachable();
    } catch (e) {
      expect(isAtmanError(e, 'TOKENIZER_FAILED')).toBe(true);
    }
  });
});

// Random tokenisations, cutting anywhere (even inside surrogate pairs): no position lost or duplicated.
describe('partition property', () => {
  const texts = [
    'the cat saw the cat',
    '  leading spaces and   multiple   spaces\n\n\nand newlines\n',
    'Dr. Smith met Mr. Jones at 5 p.m. They talked... "Really?" she asked',
    'café naïve 日本語のテキスト 👨‍👩‍👧 e\u0301 ✓ no final punctuation',
    'a;b;;c; d ;',
    '\n\n  \n',
  ];
  const grans: Granularity[] = [
    { kind: 'token' },
    { kind: 'word' },
    { kind: 'sentence' },
    { kind: 'paragraph' },
    { kind: 'delimiter', delimiter: ';' },
    { kind: 'delimiter', delimiter: ' ' },
  ];
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

  for (const text of texts) {
    it(`partitions ${JSON.stringify(text.slice(0, 24))}`, () => {
      for (let trial = 0; trial < 20; trial++) {
        const pieces: string[] = trial % 2 ? [BOS] : [];
        let i = 0;
        while (i < text.length) {
          const n = 1 + Math.floor(rand() * 5);
          pieces.push(text.slice(i, i + n));
          i += n;
        }
        for (const g of grans) {
          const units = build(pieces, g);
          expectPartition(units, pieces.length);
          for (const u of units) expect(u.label.length).toBeGreaterThan(0);
        }
      }
    });
  }
});

describe('floating whitespace and special tokens', () => {
  it('does not join a word across a special token', () => {
    // "in <image> this": the space before the image belongs to "in", not to "this" behind the image.
    const text = 'in <image> this';
    const toks = [
      { id: 1, text: 'in', start: 0, end: 2, role: 'prompt', special: false },
      { id: 2, text: ' ', start: 2, end: 3, role: 'prompt', special: false },
      { id: 3, text: '<image>', start: 3, end: 10, role: 'prompt', special: true },
      { id: 4, text: ' this', start: 10, end: 15, role: 'prompt', special: false },
      { id: 5, text: ' x', start: 0, end: 2, role: 'target', special: false },
    ] as const;
    const units = buildUnits(toks.map((t) => ({ ...t })), text, { kind: 'word' }, { tokenOverlap: 'complete', targetTokenUnits: false });
    const of = (label: string) => units.find((u) => u.label === label)!.positions;
    expect(of('in')).toEqual([0, 1]);
    expect(of('this')).toEqual([3]);
  });
});

describe('chat template tokens', () => {
  // <|im_start|> user \n | The cat sat. | <|im_end|> \n <|im_start|> assistant \n | target
  const message = 'The cat sat.';
  const tpl = (id: number, text: string, at: number): TokenInfo => ({ id, text, start: at, end: at, role: 'template', special: text.startsWith('<|') });
  const own = tokenize(['The', ' cat', ' sat', '.']).tokens;
  const tokens: TokenInfo[] = [
    tpl(1, '<|im_start|>', 0), tpl(2, 'user', 0), tpl(3, '\n', 0),
    ...own,
    tpl(4, '<|im_end|>', message.length), tpl(3, '\n', message.length), tpl(1, '<|im_start|>', message.length), tpl(5, 'assistant', message.length), tpl(3, '\n', message.length),
    { id: 600, text: ' Yes', start: 0, end: 4, role: 'target', special: false },
    { id: 601, text: '.', start: 4, end: 5, role: 'target', special: false },
  ];
  const templatePositions = [0, 1, 2, 7, 8, 9, 10, 11];

  it.each<Granularity>([{ kind: 'token' }, { kind: 'word' }, { kind: 'sentence' }, { kind: 'paragraph' }, { kind: 'delimiter', delimiter: ' ' }, { kind: 'chunks', chunks: [[0, 7], [8, 12]] }])(
    'are never units (%o), and units point at the user tokens in the whole sequence',
    (g) => {
      const units = buildUnits(tokens, message, g, { ...opts, targetTokenUnits: true });
      const all = units.flatMap((u) => u.positions);
      expect(all.some((p) => templatePositions.includes(p))).toBe(false);
      const promptPositions = units.filter((u) => u.source !== 'target').flatMap((u) => u.positions).sort((a, b) => a - b);
      expect(promptPositions).toEqual([3, 4, 5, 6]);
      // the one target unit is the first target token
      expect(units.filter((u) => u.source === 'target').map((u) => u.positions)).toEqual([[12]]);
    },
  );

  it('keep labels and spans in the message', () => {
    const units = buildUnits(tokens, message, { kind: 'word' }, opts);
    expect(units.map((u) => [u.label, u.positions, u.span])).toEqual([
      ['The', [3], [0, 3]],
      ['cat', [4], [4, 7]],
      ['sat', [5], [8, 11]],
      ['.', [6], [11, 12]],
    ]);
  });
});
