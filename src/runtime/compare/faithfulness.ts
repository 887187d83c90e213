// Deletion and insertion curves of an explanation (AtMan's or any other method's ranking of units),
// run as ordinary passes: each point of a curve is one pseudo-unit whose column factors suppress
// a set of units together, so the whole measurement is one batched runPasses call.
//
// The removal factor. Default 0: the strongest suppression the attention control has (in
// log-additive mode the columns are cut out; in multiplicative mode their scores drop to the row
// minimum). It is the same for every method, so rankings from AtMan and from other methods are
// judged by the same removal; the explanation's own factor (0.1 by default) is a gentle probe
// chosen for scoring single units, and using it would flatten the curves and favour the method
// whose probe it is. `removalFactor: 'explanation'` uses each unit's own factors as the
// explanation recorded them (conceptual suppression and partial coverage included).
import {
  AtmanError,
  type CurveAreas,
  checkRanking,
  combineFactors,
  curveAreas,
  curveKs,
  curveSets,
  meanCurve,
  rankByScore,
  removalFactors,
  seededPermutation,
  targetProbability,
} from '../../core';
import { NUMBER_RULES, checkNumber, checkRunNumbers } from '../../core/numbers';
import { assertFinite } from '../../core/scores';
import type { ControlMode, ExplainSettings } from '../../core/types';
import type { AtmanModel, ModelFacts } from '../atman/atman-model';
import { batchSizeFor } from '../atman/explain';
import { prepare } from '../atman/prepare';
import type { ImageRequest } from '../image/image-passes';
import type { CoupledNumerics } from '../atman/coupled-numerics';
import { type RunReport, runPasses } from '../atman/pass-runner';

export const FAITHFULNESS_SCHEMA_VERSION = 1;

export const FAITHFULNESS_DEFINITION =
  'p_k = exp(-sum of the target cross-entropies) with units suppressed by the removal factor; deletion suppresses the top-k units of the ranking, insertion suppresses all but the top-k; AOPC = mean over k of (p_0 - deletion_k); insertion/deletion AUC = mean over k of the curve; ABPC = mean over k of (insertion_k - deletion_k). The random floor averages the same curves over seeded random rankings.';

/** What the curves need from an explanation; an Explanation from explain() fits as it is. */
export interface FaithfulnessInput {
  prompt: string;
  target: string;
  units: ReadonlyArray<{
    label?: string;
    /** sequence positions (prompt + target[:-1]) of the unit */
    positions: readonly number[];
    /** higher = more relevant; the ranking is by descending score */
    score: number;
    /** the unit's column factors where they differ from 1, as explain() records them */
    factors?: ReadonlyArray<readonly [number, number]>;
  }>;
  /** when given, checked against this model's tokenisation, so positions mean the same tokens */
  tokens?: ReadonlyArray<{ id: number }>;
  /** mode and layers the curves run with (default: multiplicative, all layers); factor for 'explanation' removal; chat: the sequence was the chat template's (default true) */
  settings?: Partial<Pick<ExplainSettings, 'mode' | 'layers' | 'factor' | 'chat'>>;
  /** the image of a vision-language explanation (its units' columns include image columns) */
  imageInput?: ImageRequest;
}

export interface FaithfulnessOptions {
  /** factor on the removed units' columns, in [0, 1), or each unit's own factors (default 0) */
  removalFactor?: number | 'explanation';
  /** at most this many points per curve, evenly spaced in k (default: every k from 0 to n) */
  maxPoints?: number;
  /** random rankings averaged for the floor (default 3; 0 = none) */
  randomRuns?: number;
  /** seed of the first random ranking; the others use seed + 1, seed + 2, ... (default 1) */
  seed?: number;
  /** an explicit order of unit indices, most relevant first, instead of sorting by score */
  ranking?: readonly number[];
  /** run the curves in another mode than the explanation's */
  mode?: ControlMode;
  batchSize?: number;
  memoryBudgetBytes?: number;
  prefixReuse?: boolean;
  scoreHead?: boolean;
  /** models whose rows or batch items are coupled: see ExplainRequest.coupledNumerics */
  coupledNumerics?: CoupledNumerics;
  signal?: AbortSignal;
  onProgress?: (p: { stage: 'passes'; loaded: number; total: number; elapsedSeconds: number }) => void;
}

export interface Curves {
  /** joint target probability at each k */
  deletion: number[];
  insertion: number[];
  /** mean per-token target probability at each k */
  meanTokenProbability: { deletion: number[]; insertion: number[] };
}

export interface FaithfulnessReport extends Curves, CurveAreas {
  schemaVersion: number;
  definition: string;
  prompt: string;
  target: string;
  mode: ControlMode;
  layers: number[] | null;
  removalFactor: number | 'explanation';
  unitCount: number;
  /** unit indices, most relevant first */
  ranking: number[];
  /** unit labels by index (empty strings where the explanation had none) */
  labels: string[];
  /** number of top units at each curve point */
  ks: number[];
  /** unperturbed target probability (deletion at k = 0 and insertion at k = n) */
  baseline: { probability: number; meanTokenProbability: number };
  /** the same curves for random rankings, averaged point by point over the seeds; null with randomRuns 0 */
  random: (Curves & CurveAreas & { seeds: number[] }) | null;
  /** random.abpc, the floor ABPC should clear */
  randomAbpc: number | null;
  model: ModelFacts;
  passes: number;
  batchSize: number;
  run: RunReport;
  seconds: number;
}

export async function measureFaithfulness(model: AtmanModel, input: FaithfulnessInput, opts: FaithfulnessOptions = {}): Promise<FaithfulnessReport> {
  const t0 = performance.now();
  const removal = opts.removalFactor ?? 0;
  if (removal !== 'explanation') checkNumber(removal, NUMBER_RULES.removalFactor, 'The removal factor (or "explanation")');
  const randomRuns = checkNumber(opts.randomRuns ?? 3, NUMBER_RULES.randomRuns);
  const seed = checkNumber(opts.seed ?? 1, NUMBER_RULES.seed);
  checkRunNumbers(opts);
  const n = input.units.length;
  if (n === 0) throw new AtmanError('BAD_SETTING', 'The explanation has no units to remove.');

  // Only the sequence is needed from prepare: the curves bring their own factors, so units and
  // conceptual suppression are left out (token units, kappa off).
  const settings = {
    mode: opts.mode ?? input.settings?.mode ?? 'multiplicative',
    layers: input.settings?.layers ?? null,
    ...(input.settings?.factor !== undefined ? { factor: input.settings.factor } : {}),
    ...(input.settings?.chat !== undefined ? { chat: input.settings.chat } : {}),
    granularity: { kind: 'token' } as const,
    kappa: null,
  };
  // The image's drawn regions are not needed: image units arrive with their positions.
  const prep = await prepare(model, { prompt: input.prompt, target: input.target, settings, ...(input.imageInput ? { image: { image: input.imageInput.image } } : {}) });
  const { ids, targetIds, promptLen: P } = prep;
  // Image columns of a captioner come after the S sequence columns.
  const S = ids.length + prep.encoderLength;
  checkTokens(input.tokens, prep.tokens.map((t) => t.id), prep.tokens.map((t) => t.text));

  const perUnit = input.units.map((u, i): Float32Array => {
    for (const p of u.positions) {
      if (!(Number.isInteger(p) && p >= 0 && p < S)) {
        throw new AtmanError('BAD_SETTING', `Unit ${i + 1}${u.label ? ` ("${u.label}")` : ''} has position ${p}, outside the ${S} input positions of this prompt and target.`);
      }
    }
    if (removal !== 'explanation') return removalFactors(u.positions, S, removal);
    if (u.factors && u.factors.length > 0) {
      const phi = new Float32Array(S).fill(1);
      for (const [p, f] of u.factors) if (p >= 0 && p < S) phi[p] = f;
      return phi;
    }
    return removalFactors(u.positions, S, prep.settings.factor);
  });

  const ranking = opts.ranking ? [...opts.ranking] : rankByScore(input.units.map((u) => u.score));
  checkRanking(ranking, n);
  const ks = curveKs(n, opts.maxPoints);
  const seeds = Array.from({ length: randomRuns }, (_, i) => seed + i);
  const orders = [ranking, ...seeds.map((s) => seededPermutation(n, s))];

  // Pseudo-units: for each order, the deletion points, then the insertion points.
  const sets = orders.flatMap((order) => {
    const c = curveSets(order, ks);
    return [...c.deletion, ...c.insertion];
  });
  const factorCache = new Map<number, Float32Array>();
  const factorsOf = (i: number): Float32Array => {
    let phi = factorCache.get(i);
    if (!phi) factorCache.set(i, (phi = combineFactors((u) => perUnit[u]!, sets[i]!, S)));
    return phi;
  };

  const scoreHead = opts.scoreHead ?? true;
  const batchSize = opts.batchSize ?? batchSizeFor(model, S, scoreHead ? targetIds.length : S, opts.memoryBudgetBytes, opts.prefixReuse ?? true);
  const job = { ids, targetIds, promptLen: P, unitCount: sets.length, factorsOf, encoderLength: prep.encoderLength, ...(prep.context ? { context: prep.context } : {}) };
  const { ce, report } = await runPasses(model, job, {
    batchSize,
    scoreHead,
    prefixReuse: opts.prefixReuse ?? true,
    ...(opts.coupledNumerics ? { coupledNumerics: opts.coupledNumerics } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onBatch: (loaded, total) => opts.onProgress?.({ stage: 'passes', loaded, total, elapsedSeconds: (performance.now() - t0) / 1000 }),
  });

  assertFinite(ce, 'passes');
  const probs = ce.map(targetProbability);
  const base = probs[0]!;
  const m = ks.length;
  const curvesOf = (o: number): Curves => {
    const at = (offset: number) => probs.slice(1 + o * 2 * m + offset, 1 + o * 2 * m + offset + m);
    const del = at(0);
    const ins = at(m);
    return {
      deletion: del.map((p) => p.joint),
      insertion: ins.map((p) => p.joint),
      meanTokenProbability: { deletion: del.map((p) => p.meanToken), insertion: ins.map((p) => p.meanToken) },
    };
  };
  const main = curvesOf(0);
  let random: FaithfulnessReport['random'] = null;
  if (randomRuns > 0) {
    const runs = seeds.map((_, i) => curvesOf(i + 1));
    const avg = (pick: (c: Curves) => number[]) => meanCurve(runs.map(pick));
    const deletion = avg((c) => c.deletion);
    const insertion = avg((c) => c.insertion);
    random = {
      seeds,
      deletion,
      insertion,
      meanTokenProbability: { deletion: avg((c) => c.meanTokenProbability.deletion), insertion: avg((c) => c.meanTokenProbability.insertion) },
      ...curveAreas(base.joint, deletion, insertion),
    };
  }

  return {
    schemaVersion: FAITHFULNESS_SCHEMA_VERSION,
    definition: FAITHFULNESS_DEFINITION,
    prompt: input.prompt,
    target: input.target,
    mode: prep.settings.mode,
    layers: prep.settings.layers,
    removalFactor: removal,
    unitCount: n,
    ranking,
    labels: input.units.map((u) => u.label ?? ''),
    ks,
    baseline: { probability: base.joint, meanTokenProbability: base.meanToken },
    ...main,
    ...curveAreas(base.joint, main.deletion, main.insertion),
    random,
    randomAbpc: random ? random.abpc : null,
    model: model.facts,
    passes: ce.length,
    batchSize: report.rowCoupling?.handling === 'exact' ? 1 : batchSize,
    run: report,
    seconds: (performance.now() - t0) / 1000,
  };
}

function checkTokens(given: FaithfulnessInput['tokens'], ids: number[], texts: string[]): void {
  if (!given) return;
  const mismatch = ids.findIndex((id, i) => given[i]?.id !== id);
  if (given.length !== ids.length || mismatch >= 0) {
    const at = mismatch >= 0 ? mismatch : Math.min(given.length, ids.length);
    throw new AtmanError(
      'BAD_SETTING',
      `The explanation's tokens differ from this model's tokenisation of the prompt and target (first at token ${at}${texts[at] !== undefined ? `, "${texts[at]}"` : ''}); measure it with the model that made it.`,
    );
  }
}
