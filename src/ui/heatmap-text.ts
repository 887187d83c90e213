// The prompt drawn with each unit's score as a background colour: blue for negative,
// orange for positive (a colour-blind safe diverging pair), strength by |score| / max |score|.
// Text goes in through textContent only.
import type { Explanation } from '../protocol/engine-api';

const NEG = [33, 102, 172]; // blue
const POS = [230, 97, 1]; // orange

export function scoreColour(score: number, maxAbs: number): string {
  const a = maxAbs > 0 ? Math.min(1, Math.abs(score) / maxAbs) : 0;
  const [r, g, b] = score < 0 ? NEG : POS;
  return `rgba(${r}, ${g}, ${b}, ${(a * 0.85).toFixed(3)})`;
}

/** Score of each sequence position (the last unit that covers it wins), null where none does. */
export function positionScores(x: Explanation): Array<number | null> {
  const out: Array<number | null> = x.tokens.map(() => null);
  for (const u of x.units) for (const p of u.positions) if (p < out.length) out[p] = u.score;
  return out;
}

export function renderHeatmapText(el: HTMLElement, x: Explanation): void {
  el.replaceChildren();
  const scores = positionScores(x);
  const maxAbs = Math.max(0, ...x.units.map((u) => Math.abs(u.score)));
  const doc = el.ownerDocument;
  const para = doc.createElement('p');
  para.className = 'heatmap';
  let cursor = 0;
  x.tokens.forEach((t, i) => {
    if (t.role !== 'prompt') return;
    if (!t.special && t.start > cursor) para.append(x.prompt.slice(cursor, t.start));
    const span = doc.createElement('span');
    span.className = t.special ? 'unit special' : 'unit';
    span.textContent = t.special ? t.text : x.prompt.slice(t.start, t.end);
    const s = scores[i];
    if (s != null) {
      span.style.backgroundColor = scoreColour(s, maxAbs);
      span.dataset.score = String(s);
      span.title = `${JSON.stringify(span.textContent)}: ${s.toFixed(4)}`;
    }
    para.append(span);
    if (!t.special) cursor = Math.max(cursor, t.end);
  });
  if (cursor < x.prompt.length) para.append(x.prompt.slice(cursor));
  const target = doc.createElement('span');
  target.className = 'target';
  target.textContent = x.target;
  target.title = 'target';
  para.append(target);

  const legend = doc.createElement('p');
  legend.className = 'legend';
  legend.textContent = `blue: evidence against the target, orange: evidence for it (max |score| ${maxAbs.toFixed(4)}). ${x.passes} passes in ${x.seconds.toFixed(2)} s on ${x.model.device}.`;
  el.append(para, legend);
  el.dataset.explanation = JSON.stringify(x);
}
