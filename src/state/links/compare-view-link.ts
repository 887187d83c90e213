// How the comparison was shown, in a share link: its colour scale (`cscale=own|shared`), for
// the attention methods what was read (`catt=<query>;<layers>;<heads>`, lists as "all" or
// "0,2,5"), and for integrated gradients its steps (`csteps=8`). Each field checked on its own; a
// bad one falls back to the default with a notice.
import { NUMBER_RULES, parseDecimal } from '../../core/numbers';
import type { AttentionChoice, AttentionQuery, CompareScale, SharedCompareView } from '../slices/app-state';
import { sanitizeCompareSteps } from '../slices/compare-slice';
import type { Problems } from '../sanitize';

export const COMPARE_VIEW_KEYS = ['cscale', 'catt', 'csteps'] as const;
/** Longest layer or head list a link may carry. */
export const MAX_VIEW_INDICES = 256;

const QUERIES: readonly AttentionQuery[] = ['target-mean', 'last-prompt'];
const SCALES: readonly CompareScale[] = ['own', 'shared'];

const list = (l: number[] | null): string => (l === null ? 'all' : l.join(','));

export function compareViewParams(v: SharedCompareView, p: URLSearchParams): void {
  p.set('cscale', v.scale);
  const a = v.attention;
  p.set('catt', `${a.query};${list(a.layers)};${list(a.heads)}`);
  if (v.steps !== undefined) p.set('csteps', String(v.steps));
}

/** "all" or distinct indices below 10 000, sorted; undefined when unreadable. */
function readList(text: string): number[] | null | undefined {
  if (text === 'all') return null;
  const parts = text.split(',');
  if (parts.length === 0 || parts.length > MAX_VIEW_INDICES || !parts.every((x) => /^\d{1,4}$/.test(x))) return undefined;
  return [...new Set(parts.map(Number))].sort((a, b) => a - b);
}

export function decodeCompareView(p: URLSearchParams, problems: Problems): SharedCompareView | undefined {
  const scaleText = p.get('cscale');
  const attText = p.get('catt');
  const stepsText = p.get('csteps');
  if (scaleText === null && attText === null && stepsText === null) return undefined;
  let scale: CompareScale = 'own';
  if (scaleText !== null) {
    if ((SCALES as readonly string[]).includes(scaleText)) scale = scaleText as CompareScale;
    else problems.push('The comparison colour scale in this link is neither "own" nor "shared"; using each side\'s own.');
  }
  let attention: AttentionChoice = { layers: null, heads: null, query: 'target-mean' };
  if (attText !== null) {
    const [query, layers, heads, ...rest] = attText.split(';');
    const l = layers === undefined ? undefined : readList(layers);
    const h = heads === undefined ? undefined : readList(heads);
    if (rest.length || !(QUERIES as readonly (string | undefined)[]).includes(query) || l === undefined || h === undefined) {
      problems.push('The attention options of the comparison in this link are unreadable; using the defaults.');
    } else attention = { query: query as AttentionQuery, layers: l, heads: h };
  }
  if (stepsText === null) return { scale, attention };
  // a whole number in plain decimal, or text the rule's sentence quotes
  const n = parseDecimal(stepsText.slice(0, 12), NUMBER_RULES.steps.integer);
  return { scale, attention, steps: sanitizeCompareSteps(Number.isNaN(n) ? stepsText.slice(0, 12) : n, problems) };
}
