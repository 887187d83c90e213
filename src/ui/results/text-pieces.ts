// The prompt and target cut into what the heatmap draws: the characters between tokens (kept as
// they are), token pieces, and runs of token pieces that belong to one unit. Pure, no DOM.
import type { Explanation } from '../../runtime/schema';
import { tokenLabel, tokenToUnit } from './score-view';

export type Piece =
  | { kind: 'gap'; text: string }
  /**
   * chip: a special token or one with no characters of its own, drawn as a small muted chip;
   * template: written by the model's chat template around the prompt (never a unit)
   */
  | { kind: 'token'; pos: number; text: string; chip: boolean; template?: boolean };

export type Run =
  | { kind: 'plain'; piece: Piece }
  /** consecutive pieces of one unit; `first` is false for a later, separate run of the same unit */
  | { kind: 'unit'; unit: number; pieces: Piece[]; first: boolean };

/** Token and gap pieces of one text (prompt or target), in order; the prompt's include a chat template's tokens. */
export function pieces(x: Pick<Explanation, 'tokens' | 'prompt' | 'target'>, role: 'prompt' | 'target'): Piece[] {
  const text = role === 'prompt' ? x.prompt : x.target;
  const out: Piece[] = [];
  let cursor = 0;
  x.tokens.forEach((tok, pos) => {
    if (role === 'prompt' && tok.role === 'template') {
      // Where the template writes it: before the message (0) or after it (its length).
      const at = Math.min(Math.max(tok.start, cursor), text.length);
      if (at > cursor) out.push({ kind: 'gap', text: text.slice(cursor, at) });
      cursor = at;
      out.push({ kind: 'token', pos, text: tokenLabel(tok), chip: true, template: true });
      return;
    }
    if (tok.role !== role) return;
    if (tok.special || tok.end <= tok.start) {
      out.push({ kind: 'token', pos, text: tok.special ? tok.text || tokenLabel(tok) : tokenLabel(tok), chip: true });
      return;
    }
    if (tok.start > cursor) out.push({ kind: 'gap', text: text.slice(cursor, tok.start) });
    // overlapping spans (rare byte-level merges): draw only the part not drawn yet
    const from = Math.max(cursor, tok.start);
    out.push({ kind: 'token', pos, text: text.slice(from, tok.end), chip: false });
    cursor = Math.max(cursor, tok.end);
  });
  if (cursor < text.length) out.push({ kind: 'gap', text: text.slice(cursor) });
  return out;
}

/** Groups pieces into runs of one unit; gaps between two tokens of the same unit stay inside the run. */
export function runs(ps: Piece[], unitOf: Array<number | null>, seen: Set<number> = new Set()): Run[] {
  const out: Run[] = [];
  let open: { unit: number; pieces: Piece[]; first: boolean } | null = null;
  let pending: Piece[] = [];
  const close = (): void => {
    if (open) out.push({ kind: 'unit', ...open });
    open = null;
    for (const g of pending) out.push({ kind: 'plain', piece: g });
    pending = [];
  };
  for (const p of ps) {
    if (p.kind === 'gap') {
      if (open) pending.push(p);
      else out.push({ kind: 'plain', piece: p });
      continue;
    }
    const u = unitOf[p.pos] ?? null;
    if (u !== null && open !== null && (open as { unit: number }).unit === u) {
      (open as { pieces: Piece[] }).pieces.push(...pending, p);
      pending = [];
      continue;
    }
    close();
    if (u === null) {
      out.push({ kind: 'plain', piece: p });
    } else {
      open = { unit: u, pieces: [p], first: !seen.has(u) };
      seen.add(u);
    }
  }
  close();
  return out;
}

/** The prompt's and the target's runs, with each unit's first run marked once across both. */
export function heatmapRuns(x: Pick<Explanation, 'tokens' | 'units' | 'prompt' | 'target'>): { prompt: Run[]; target: Run[] } {
  const unitOf = tokenToUnit(x);
  const seen = new Set<number>();
  return { prompt: runs(pieces(x, 'prompt'), unitOf, seen), target: runs(pieces(x, 'target'), unitOf, seen) };
}

/** Index of target token t among the tokens (its sequence position). */
export function targetPosition(x: Pick<Explanation, 'tokens'>, t: number): number {
  let k = -1;
  for (let i = 0; i < x.tokens.length; i++) if (x.tokens[i]!.role === 'target' && ++k === t) return i;
  return -1;
}
