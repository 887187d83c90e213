// The prompt of an in-sequence vision-language model holds the processor's image tokens (tile
// markers, dozens of <image> tokens, line breaks), all special and all spanning the '<image>'
// marker's characters. The text heatmap shows that run as one image chip; the scores of its image
// units are drawn over the picture instead. Pure, no DOM.
import type { Explanation } from '../../runtime/schema';
import { tokenLabel, tokenToUnit } from '../results/score-view';
import { type Piece, type Run, heatmapRuns, pieces, runs } from '../results/text-pieces';

export interface ImageRun {
  /** token positions [from, to) of the processor's run */
  from: number;
  to: number;
  /** the marker's characters in the prompt */
  start: number;
  end: number;
  /** image tokens in the run (those with a region) */
  imageTokens: number;
}

type X = Pick<Explanation, 'tokens' | 'units' | 'prompt' | 'target' | 'image'>;

/** The processor's token run in the prompt, or null (text-only, or a captioner whose image is not in the prompt). */
export function imageRun(x: X): ImageRun | null {
  if (!x.image || x.image.placement !== 'sequence') return null;
  const isImageToken = (t: X['tokens'][number]) => t.role === 'prompt' && t.special === true && t.end > t.start;
  const from = x.tokens.findIndex(isImageToken);
  if (from < 0) return null;
  const { start, end } = x.tokens[from]!;
  let to = from;
  while (to < x.tokens.length && isImageToken(x.tokens[to]!) && x.tokens[to]!.start === start && x.tokens[to]!.end === end) to++;
  const columns = new Set(x.image.tokens.map((t) => t.column));
  let imageTokens = 0;
  for (let p = from; p < to; p++) if (columns.has(p)) imageTokens++;
  return { from, to, start, end, imageTokens };
}

/** The chip's text: what it stands for, in a few words. */
export const imageChipText = (r: ImageRun): string => `image · ${r.imageTokens} tokens`;

/**
 * heatmapRuns with the image run as one chip piece (at position `from`, in no unit) in place of
 * its tokens and of the marker's characters; everything else as heatmapRuns draws it.
 */
export function heatmapRunsWithImage(x: X): { prompt: Run[]; target: Run[]; image: ImageRun | null } {
  const image = imageRun(x);
  if (!image) return { ...heatmapRuns(x), image: null };
  const unitOf = tokenToUnit(x);
  for (let p = image.from; p < image.to; p++) unitOf[p] = null;
  const seen = new Set<number>();
  return { prompt: runs(promptPieces(x, image), unitOf, seen), target: runs(pieces(x, 'target'), unitOf, seen), image };
}

/** The prompt's pieces as text-pieces.pieces cuts them, with the image run as one chip. */
function promptPieces(x: X, image: ImageRun): Piece[] {
  const out: Piece[] = [];
  let cursor = 0;
  x.tokens.forEach((tok, pos) => {
    if (tok.role !== 'prompt') return;
    if (pos >= image.from && pos < image.to) {
      if (pos !== image.from) return;
      if (image.start > cursor) out.push({ kind: 'gap', text: x.prompt.slice(cursor, image.start) });
      out.push({ kind: 'token', pos, text: imageChipText(image), chip: true });
      cursor = Math.max(cursor, image.end);
      return;
    }
    if (tok.special || tok.end <= tok.start) {
      out.push({ kind: 'token', pos, text: tok.special ? tok.text || tokenLabel(tok) : tokenLabel(tok), chip: true });
      return;
    }
    if (tok.start > cursor) out.push({ kind: 'gap', text: x.prompt.slice(cursor, tok.start) });
    const from = Math.max(cursor, tok.start);
    out.push({ kind: 'token', pos, text: x.prompt.slice(from, tok.end), chip: false });
    cursor = Math.max(cursor, tok.end);
  });
  if (cursor < x.prompt.length) out.push({ kind: 'gap', text: x.prompt.slice(cursor) });
  return out;
}
