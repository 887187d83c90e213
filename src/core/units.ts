// Turning tokens plus a granularity into units: sets of sequence positions suppressed together.
//
// Decisions (docs/method.md, "Units"):
// - Spans are JS string indices (UTF-16 code units) into the token's own text.
// - A special token (BOS etc., start === end) is always its own unit labelled by its text, at every
//   granularity except 'chunks' (where only what the user picked is a unit). Folding BOS into the
//   first word would mix the attention-sink effect into that word's score.
// - A token belongs to the segment holding its first non-whitespace character (so "Ġcat." is in
//   "cat", "\n\nThe" in the next paragraph). A whitespace-only token belongs to the segment holding
//   its first character, unless that segment is itself only whitespace (word gaps, a lone "\n"
//   sentence); then it "floats": it joins the next unit, or the previous one at the end of the prompt.
// - For token/word/sentence/paragraph/delimiter every prompt position is in exactly one unit.
// - Units are ordered by their first position; target-token units (if asked for) come last.
// - A chat template's tokens (role 'template') are never units: units come from the user's own
//   tokens, whose positions are mapped back into the whole sequence.

import { AtmanError } from './errors';
import type { Granularity, TokenInfo, TokenOverlap, Unit } from './types';

export interface BuildUnitsOptions {
  tokenOverlap: TokenOverlap;
  /** also make each target token except the last its own unit (target granularity 'token') */
  targetTokenUnits: boolean;
  /** Intl.Segmenter locale for word/sentence; fixed by default so results do not depend on the machine */
  locale?: string;
}

/** Builds the units for a prompt (and optionally earlier target tokens) at the given granularity. */
export function buildUnits(
  tokens: TokenInfo[],
  promptText: string,
  granularity: Granularity,
  opts: BuildUnitsOptions,
): Unit[] {
  const promptLen = checkTokens(tokens, promptText);
  const own: number[] = [];
  for (let p = 0; p < promptLen; p++) if (tokens[p]!.role === 'prompt') own.push(p);
  const prompt = own.map((p) => tokens[p]!);
  let units: Unit[];
  switch (granularity.kind) {
    case 'token':
      units = prompt.map((tok, p) => tokenUnit(tok, p, 'prompt'));
      break;
    case 'chunks':
      units = chunkUnits(prompt, promptText, granularity.chunks, opts.tokenOverlap);
      break;
    case 'word':
    case 'sentence':
    case 'paragraph':
    case 'delimiter':
      units = segmentUnits(prompt, promptText, segmentsOf(promptText, granularity, opts.locale ?? 'en'));
      break;
    default:
      throw new AtmanError('BAD_SETTING', `Unknown granularity "${(granularity as { kind: string }).kind}".`);
  }
  if (own.length !== promptLen) units = units.map((u) => ({ ...u, positions: u.positions.map((p) => own[p]!) }));
  if (opts.targetTokenUnits) {
    // The last target token is never an input position (S = P + T - 1), so it cannot be suppressed.
    for (let t = promptLen; t < tokens.length - 1; t++) units.push(tokenUnit(tokens[t]!, t, 'target'));
  }
  return units;
}

/** Character spans [start, end) that tile the prompt text for a segment-based granularity. */
export function segmentsOf(text: string, granularity: Granularity, locale = 'en'): Array<[number, number]> {
  switch (granularity.kind) {
    case 'word':
    case 'sentence': {
      const seg = new Intl.Segmenter(locale, { granularity: granularity.kind });
      return Array.from(seg.segment(text), (s): [number, number] => [s.index, s.index + s.segment.length]);
    }
    case 'paragraph':
      return splitKeepingSeparator(text, /\n\s*\n/g);
    case 'delimiter': {
      if (granularity.delimiter === '') throw new AtmanError('BAD_SETTING', 'The delimiter must not be empty.');
      const escaped = granularity.delimiter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return splitKeepingSeparator(text, new RegExp(escaped, 'g'));
    }
    default:
      throw new AtmanError('BAD_SETTING', `Granularity "${granularity.kind}" has no text segments.`);
  }
}

// The separator stays with the chunk before it, so the chunks tile the text with nothing dropped.
function splitKeepingSeparator(text: string, re: RegExp): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  for (const m of text.matchAll(re)) {
    const end = m.index + m[0].length;
    if (end > start) out.push([start, end]);
    start = end;
  }
  if (start < text.length) out.push([start, text.length]);
  return out;
}

function checkTokens(tokens: TokenInfo[], promptText: string): number {
  let promptLen = 0;
  while (promptLen < tokens.length && tokens[promptLen]!.role !== 'target') promptLen++;
  for (let i = promptLen; i < tokens.length; i++) {
    if (tokens[i]!.role !== 'target') {
      throw new AtmanError('TOKENIZER_FAILED', `Token ${i} is a prompt token after the first target token.`);
    }
  }
  for (let i = 0; i < promptLen; i++) {
    const { start, end } = tokens[i]!;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= promptText.length)) {
      throw new AtmanError('TOKENIZER_FAILED', `Prompt token ${i} has span [${start}, ${end}) outside the prompt text.`);
    }
  }
  return promptLen;
}

const isSpace = (ch: string | undefined) => ch !== undefined && /\s/.test(ch);

/** Trimmed for display, but never empty. */
function displayLabel(raw: string, fallback: string): string {
  const trimmed = raw.trim();
  if (trimmed !== '') return trimmed;
  return raw !== '' ? raw : fallback;
}

function tokenUnit(tok: TokenInfo, position: number, role: 'prompt' | 'target'): Unit {
  const unit: Unit = {
    label: displayLabel(tok.text, `[${tok.id}]`),
    positions: [position],
    source: tok.special ? 'special' : role,
  };
  if (!tok.special) unit.span = [tok.start, tok.end];
  return unit;
}

function segmentUnits(prompt: TokenInfo[], text: string, segments: Array<[number, number]>): Unit[] {
  const segOfChar = new Int32Array(text.length);
  const wsOnly: boolean[] = [];
  segments.forEach(([a, b], s) => {
    segOfChar.fill(s, a, b);
    let allSpace = true;
    for (let c = a; c < b && allSpace; c++) allSpace = isSpace(text[c]);
    wsOnly.push(allSpace);
  });

  const FLOAT = -1;
  const SPECIAL = -2;
  const segOfTok = prompt.map((tok) => {
    if (tok.special) return SPECIAL;
    if (tok.start === tok.end) return FLOAT;
    let anchor = tok.start;
    while (anchor < tok.end && isSpace(text[anchor])) anchor++;
    if (anchor === tok.end) anchor = tok.start;
    const s = segOfChar[anchor]!;
    return wsOnly[s] ? FLOAT : s;
  });

  // Floating tokens join the next anchored token's segment, or the previous one at the end;
  // never across a special token (an image's tokens would otherwise sit inside a word unit).
  let next = FLOAT;
  for (let p = prompt.length - 1; p >= 0; p--) {
    if (segOfTok[p]! >= 0) next = segOfTok[p]!;
    else if (segOfTok[p] === SPECIAL) next = FLOAT;
    else if (segOfTok[p] === FLOAT && next >= 0) segOfTok[p] = next;
  }
  let prev = FLOAT;
  for (let p = 0; p < prompt.length; p++) {
    if (segOfTok[p]! >= 0) prev = segOfTok[p]!;
    else if (segOfTok[p] === SPECIAL) prev = FLOAT;
    else if (segOfTok[p] === FLOAT && prev >= 0) segOfTok[p] = prev;
  }

  const units: Unit[] = [];
  const bySeg = new Map<number, Unit>();
  let leftovers: Unit | undefined; // whitespace-only prompt: nothing to float to
  prompt.forEach((tok, p) => {
    const s = segOfTok[p]!;
    if (s === SPECIAL) {
      units.push(tokenUnit(tok, p, 'prompt'));
    } else if (s === FLOAT) {
      if (!leftovers) {
        leftovers = { label: '', positions: [], source: 'prompt', span: [tok.start, tok.end] };
        units.push(leftovers);
      }
      leftovers.positions.push(p);
      leftovers.span = [Math.min(leftovers.span![0], tok.start), Math.max(leftovers.span![1], tok.end)];
    } else {
      let unit = bySeg.get(s);
      if (!unit) {
        const [a, b] = segments[s]!;
        unit = { label: displayLabel(text.slice(a, b), tok.text), positions: [], source: 'prompt', span: [a, b] };
        bySeg.set(s, unit);
        units.push(unit);
      }
      unit.positions.push(p);
    }
  });
  if (leftovers) {
    const [a, b] = leftovers.span!;
    leftovers.label = displayLabel(text.slice(a, b), prompt.map((t) => t.text).join('') || '[whitespace]');
  }
  return units;
}

function chunkUnits(
  prompt: TokenInfo[],
  text: string,
  chunks: Array<[number, number]>,
  overlap: TokenOverlap,
): Unit[] {
  return chunks.map(([a, b], i) => {
    if (!(a >= 0 && a < b && b <= text.length)) {
      throw new AtmanError(
        'BAD_SETTING',
        `Chunk ${i + 1} [${a}, ${b}) is empty or lies outside the prompt (${text.length} characters).`,
      );
    }
    const positions: number[] = [];
    const coverage: number[] = [];
    prompt.forEach((tok, p) => {
      if (tok.special || tok.start === tok.end) return;
      const covered = Math.min(b, tok.end) - Math.max(a, tok.start);
      if (covered <= 0) return;
      positions.push(p);
      coverage.push(overlap === 'partial' ? covered / (tok.end - tok.start) : 1);
    });
    const raw = text.slice(a, b);
    if (positions.length === 0) {
      throw new AtmanError(
        'BAD_SETTING',
        `Chunk ${i + 1} ("${raw}") covers no prompt token; widen it or remove it.`,
      );
    }
    const unit: Unit = { label: displayLabel(raw, raw), positions, source: 'prompt', span: [a, b] };
    if (coverage.some((c) => c !== 1)) unit.coverage = coverage;
    return unit;
  });
}
