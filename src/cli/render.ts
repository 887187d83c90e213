// Terminal view of an explanation: the prompt with each unit's score, then the top units, then
// the image units with the part of the picture each covers.
import type { Rect } from '../core/image-regions';
import { formatBytes } from '../core/memory-budget';
import type { ExplainedUnit, Explanation } from '../runtime/schema';

// Blue (against) to orange (for): a diverging pair that colour-blind readers tell apart.
const NEG = [[189, 215, 238], [107, 174, 214], [33, 113, 181]] as const;
const POS = [[253, 208, 162], [253, 141, 60], [217, 72, 1]] as const;

function background(score: number, maxAbs: number): string {
  if (maxAbs === 0 || score === 0) return '';
  const level = Math.min(2, Math.floor((Math.abs(score) / maxAbs) * 3 - 1e-9));
  const [r, g, b] = (score > 0 ? POS : NEG)[Math.max(0, level)]!;
  return `\x1b[48;2;${r};${g};${b}m\x1b[38;2;0;0;0m`;
}

export function renderExplanation(x: Explanation, opts: { color: boolean; top?: number; imageLines?: number }): string {
  const maxAbs = Math.max(0, ...x.units.map((u) => Math.abs(u.score)));
  const unitOf = new Map<number, number>();
  // Image units are listed with their regions below; the prompt line shows text units only.
  x.units.forEach((u, i) => u.image === undefined && u.positions.forEach((p) => x.tokens[p]?.role === 'prompt' && unitOf.set(p, i)));
  const lines: string[] = [];
  let text = '';
  let i = 0;
  // Sequence positions of the user's own tokens (a chat template's tokens are listed apart).
  const at = x.tokens.flatMap((t, p) => (t.role === 'prompt' ? [p] : []));
  const promptTokens = at.map((p) => x.tokens[p]!);
  while (i < promptTokens.length) {
    const u = unitOf.get(at[i]!);
    // The processor's image tokens all stand for the one '<image>' of the prompt: print it once.
    const prev = promptTokens[i - 1];
    const t = promptTokens[i]!;
    if (x.image && u === undefined && t.special && prev && prev.start === t.start && prev.end === t.end && t.end > t.start) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < promptTokens.length && unitOf.get(at[j]!) === u && u !== undefined) j++;
    const piece = x.prompt.slice(promptTokens[i]!.start, promptTokens[j - 1]!.end) || promptTokens[i]!.text;
    const score = u === undefined ? 0 : x.units[u]!.score;
    if (opts.color) text += `${background(score, maxAbs)}${piece}\x1b[0m`;
    else text += u === undefined ? piece : `[${piece}|${fmt(score)}]`;
    i = j;
  }
  const template = x.tokens.filter((t) => t.role === 'template');
  if (template.length) lines.push(`chat template: the prompt is the user's turn; ${template.length} template tokens around it are not units`);
  lines.push(text, `target: ${JSON.stringify(x.target)}`, '');
  const ranked = x.units.map((u, k) => ({ u, k })).sort((a, b) => b.u.score - a.u.score);
  lines.push(`top units (${x.sign.split(';')[0]}):`);
  for (const { u } of ranked.slice(0, opts.top ?? 10)) lines.push(`  ${fmt(u.score).padStart(10)}  ${JSON.stringify(u.label)}${u.region ? `  image ${rect(u.region)}` : ''}`);
  if (x.drillDown) lines.push('', ...drillLines(x));
  if (x.image) lines.push('', ...imageLines(x, opts.imageLines ?? 64));
  lines.push(
    '',
    `${x.passes} passes in ${x.seconds.toFixed(2)} s (batch ${x.batchSize}) on ${x.model.backend} [${x.model.device}], ${x.settings.mode}, factor ${x.settings.factor}, kappa ${x.settings.kappa ?? 'off'}`,
    `model: ${x.model.file} (${x.model.dtype})${x.model.dtypeReason ? `; ${x.model.dtypeReason}` : ''}`,
    `prefix reuse: ${x.run.prefixReuse}; score head: ${x.run.scoreHead ? 'on' : 'off'}; rows computed ${x.run.rowsComputed} of ${x.run.rowsFullRecompute}`,
    ...(x.run.memory ? [memoryLine(x.run.memory)] : []),
    ...(x.run.load ? [loadLine(x.run)] : []),
    ...x.run.notes.map((n) => `note: ${n}`),
  );
  return lines.join('\n');
}

/** Which units each level refined, in words. */
function refinedWords(d: NonNullable<Explanation['drillDown']>): string {
  if (d.top === 1 || !d.share) return `the ${d.top} strongest of each level refined`;
  return `the strongest of each level refined, and up to ${d.top - 1} more scoring at least ${d.share} of it`;
}

/** The refined units, each followed by its children (indented, in text order), level by level. */
function drillLines(x: Explanation): string[] {
  const d = x.drillDown!;
  const share = ((100 * x.passes) / d.fullPasses).toFixed(0);
  const lines = [
    `drill-down (${d.levels.join(' > ')}, ${refinedWords(d)}): ${x.passes} passes (${d.passesPerLevel.join(' + ')}), ${share}% of the ${d.fullPasses} a full ${d.levels.at(-1)}-level run takes:`,
  ];
  const walk = (units: ExplainedUnit[], depth: number) => {
    for (const u of units) {
      if (!u.children && depth === 0) continue;
      lines.push(`  ${fmt(u.score).padStart(12)}  ${'   '.repeat(depth)}${JSON.stringify(u.label)}`);
      if (u.children) walk(u.children, depth + 1);
    }
  };
  walk(x.units, 0);
  return lines;
}

function memoryLine(m: NonNullable<Explanation['run']['memory']>): string {
  const how = m.chosenBy === 'budget' ? 'chosen by the budget' : 'as given';
  const over = m.estimateBytes > m.budgetBytes ? ' (over the budget: one pass alone needs more)' : '';
  return `memory: budget ${formatBytes(m.budgetBytes)}, batch ${m.batchSize} ${how}, estimate ${formatBytes(m.estimateBytes)}${over} = ${formatBytes(m.fixedBytes)} prefix cache + ${m.batchSize} x ${formatBytes(m.perItemBytes)} per pass`;
}

const fmt = (v: number): string => (v >= 0 ? '+' : '') + v.toPrecision(3);

/** Every image unit in sequence order with its score and region (LEFT,TOP WIDTHxHEIGHT in the image's pixels). */
function imageLines(x: Explanation, max: number): string[] {
  const img = x.image!;
  const where = img.placement === 'sequence' ? 'in the decoder sequence' : 'in the encoder output, read through cross-attention';
  const units: ExplainedUnit[] = x.units.filter((u) => u.image !== undefined);
  const lines = [`image ${img.width}x${img.height} ${img.format}: ${img.tokens.length} image tokens ${where}; ${units.length} image units (score, label, region left,top widthxheight):`];
  for (const u of units.slice(0, max)) lines.push(`  ${fmt(u.score).padStart(10)}  ${JSON.stringify(u.label).padEnd(24)}  ${rect(u.region!)}`);
  if (units.length > max) lines.push(`  ... and ${units.length - max} more image units (all are in --json)`);
  return lines;
}

const px = (v: number): string => String(Math.round(v * 10) / 10);
const rect = (r: Rect): string => `${px(r.left)},${px(r.top)} ${px(r.width)}x${px(r.height)}`;

/** The load split and peak memory, as the run report holds them. */
function loadLine(run: Explanation['run']): string {
  const l = run.load!;
  const gib = (b: number | undefined) => (b === undefined ? '' : `, peak memory ${(b / 2 ** 30).toFixed(2)} GiB`);
  return `load ${l.total.toFixed(2)} s: download ${l.download.toFixed(2)} s, rewrite ${l.rewrite.toFixed(2)} s, session ${l.session.toFixed(2)} s, self-check ${l.selfCheck.toFixed(2)} s${gib(run.peakRssBytes ?? l.peakRssBytes)}`;
}
