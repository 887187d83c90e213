// Which parts of the prompt can be picked for steering: the units of the shown result (or of the
// plan), each as its character span in the prompt. Pure helpers, no DOM.
import type { Explanation, UnitPlan } from '../../protocol/engine-api';

export interface Pickable {
  unit: number;
  span: [number, number];
  label: string;
}

/** Prompt units as character spans; units without prompt characters (target tokens, special tokens) are left out. */
export function pickableUnits(prompt: string, source: Pick<Explanation | UnitPlan, 'tokens' | 'units'>): Pickable[] {
  const out: Pickable[] = [];
  source.units.forEach((u, unit) => {
    let a = Infinity;
    let b = -Infinity;
    for (const p of u.positions) {
      const t = source.tokens[p];
      if (!t || t.role !== 'prompt' || t.special || t.end <= t.start) continue;
      a = Math.min(a, t.start);
      b = Math.max(b, t.end);
    }
    if (!(b > a) || b > prompt.length) return;
    // Spaces at the edges belong to the token, not to what the user means to steer.
    while (a < b && /\s/.test(prompt[a]!)) a++;
    while (b > a && /\s/.test(prompt[b - 1]!)) b--;
    if (b > a) out.push({ unit, span: [a, b], label: prompt.slice(a, b) });
  });
  return out;
}

/** What a factor does, in a word. */
export function factorWords(f: number): string {
  if (f === 0) return 'ignored';
  if (f < 1) return 'weakened';
  if (f === 1) return 'unchanged';
  return 'amplified';
}
