// The forward-only methods AtMan is compared with, over the same units and tokens as explain():
//  - 'attention': raw attention probabilities from the rows that predict the target;
//  - 'rollout': attention rollout (Abnar & Zuidema 2020) through the layers;
//  - 'occlusion-delete': leave-one-out, the unit's tokens removed from the input;
//  - 'occlusion-mask': leave-one-out, the unit's key columns given attention_mask 0.
// Occlusion is scored like AtMan (R = CE with the unit removed - CE unperturbed, paper sign, then
// settings.postprocess); the attention methods score attention mass, which has no sign.
//
// Decisions:
// - perTarget of the attention methods always holds, per target token t, the value read from the
//   row that predicts t (P-1+t). `query` picks the score: 'last-prompt' takes that of t = 0 (the
//   last prompt position), 'target-mean' (default) the mean over all target rows. Post-processing
//   does not apply to them (attention mass is never negative).
// - Raw attention averages the chosen layers and heads (default: all). Rollout multiplies the
//   chosen layers of head-mean attention over the chosen heads (default: all). The chosen layers
//   are the attention options' layers, else the settings' layers (the ones AtMan controls, which
//   the result's settings record), else all.
// - Occlusion removes exactly the unit's positions: conceptual suppression (kappa) and partial
//   token coverage do not apply. Deletion renumbers the positions of the shortened sequence from 0.
//   A target token whose own input position is deleted (an earlier-target-token unit) is predicted
//   from what precedes it, so, as in AtMan, a unit cannot explain itself or earlier target tokens.
import { AtmanError } from '../../core/errors';
import { checkRunNumbers } from '../../core/numbers';
import { assertFinite } from '../../core/scores';
import type { AtmanModel } from '../atman/atman-model';
import { imageFields } from '../atman/levels';
import { plainTokens, prepare } from '../atman/prepare';
import { COMPARISON_METHODS, COMPARISON_SIGNS, type Explanation, GRADIENT_METHODS, type GradientMethod, SCHEMA_VERSION } from '../schema';
import { attentionScores, releaseComparisonSessions as releaseAttentionSessions } from './attention-methods';
import { releaseGradientSessions } from '../gradients/gradient-sessions';
import type { AttentionOptions, ComparisonRequest } from './method-scores';
import { occlusionScores } from './occlusion';
import { gradientScores } from '../gradients/gradient-methods';

const isGradientMethod = (m: string): m is GradientMethod => (GRADIENT_METHODS as readonly string[]).includes(m);

export type { AttentionOptions, AttentionQuery, ComparisonRequest } from './method-scores';
/** Releases the extra sessions the comparison methods made for this model (attention probabilities, gradients). */
export async function releaseComparisonSessions(model: AtmanModel): Promise<void> {
  await releaseAttentionSessions(model);
  await releaseGradientSessions(model);
}

export async function explainComparison(model: AtmanModel, req: ComparisonRequest): Promise<Explanation> {
  const t0 = performance.now();
  if (!COMPARISON_METHODS.includes(req.method)) throw new AtmanError('BAD_SETTING', `Unknown method "${req.method}".`);
  checkRunNumbers(req);
  const gradient = isGradientMethod(req.method);
  // The gradient methods take the image's input vectors as x; the others have no image path yet.
  if (model.vision && !gradient) {
    throw new AtmanError(
      'MODEL_UNSUPPORTED',
      `Raw attention, attention rollout and occlusion run on text-only models for now; ${model.id} reads images. AtMan, its faithfulness curves and the gradient methods (input-x-gradient, integrated-gradients, chefer) work on it.`,
    );
  }
  const p = await prepare(model, { prompt: req.prompt, target: req.target, ...(req.settings ? { settings: req.settings } : {}), ...(req.image ? { image: req.image } : {}) }, { control: false });
  const result =
    req.method === 'attention' || req.method === 'rollout'
      ? await attentionScores(model, p, req.method, attentionOptionsOf(req, p.settings.layers))
      : isGradientMethod(req.method)
        ? await gradientScores(model, p, req.method, req, t0)
        : await occlusionScores(model, p, req.method, req, t0);
  assertFinite([result.ce0, ...result.perTarget, result.scores], 'units');
  return {
    schemaVersion: SCHEMA_VERSION,
    method: req.method,
    sign: COMPARISON_SIGNS[req.method],
    prompt: p.prompt,
    target: req.target,
    tokens: plainTokens(p.tokens),
    ...(p.image ? { image: p.image } : {}),
    units: p.units.map((u, i) => ({
      label: u.label,
      positions: u.positions,
      score: result.scores[i]!,
      perTarget: Array.from(result.perTarget[i]!),
      // occlusion takes the unit's positions out entirely; the attention methods change nothing
      factors: req.method.startsWith('occlusion') ? u.positions.map((q): [number, number] => [q, 0]) : [],
      ...imageFields(u),
    })),
    baseline: { crossEntropy: Array.from(result.ce0) },
    settings: p.settings,
    model: model.facts,
    passes: req.method.startsWith('occlusion') ? 1 + p.units.length : isGradientMethod(req.method) ? result.report.rowsComputed : 1,
    batchSize: result.report.batchSize,
    run: result.report,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The layers the attention methods read: those the request's attention options name, else the
 * settings' layers (what `--layers` and the result's `settings.layers` say), else all. Without the
 * fallback, `--layers 3` averaged every layer while the JSON said [3].
 */
export function attentionOptionsOf(req: Pick<ComparisonRequest, 'attention'>, settingsLayers: readonly number[] | null): AttentionOptions {
  const opts = req.attention ?? {};
  return opts.layers === undefined && settingsLayers !== null ? { ...opts, layers: settingsLayers } : opts;
}
