// Everything before the passes: the prompt and target tokenised (with the chat template and the
// image tokens where they apply), validated, cut into units, and each unit's column factors with
// conceptual suppression (docs/method.md, "Conceptual suppression"), over text and image columns.
import { AtmanError, buildUnits, cosineSimilarityMatrix, similarityFromMatrix, unitFactors, validateSettings, validateTexts } from '../../core';
import type { ExplainSettings, Granularity, TokenInfo, Unit } from '../../core/types';
import type { AtmanModel } from './atman-model';
import { type DecoderContext } from './feeds';
import { textPromptTokens } from '../model/chat-template';
import { type ExplainedImage, type ImageRequest, describeImage, imageContext, imagePrompt, imageUnits } from '../image/image-passes';
import { embedTokens } from '../image/vision-sessions';
import { type Explanation, type UnitPlan } from '../schema';


/** What prepare reads of a request: the texts, the settings, and the picture when there is one. */
export interface PrepareRequest {
  prompt: string;
  target: string;
  settings?: Partial<ExplainSettings>;
  /** an image for a vision-language model, and regions drawn on it */
  image?: ImageRequest;
}

export interface Prepared {
  settings: ExplainSettings;
  /** the prompt the token spans refer to (an image prompt gains its '<image>' marker) */
  prompt: string;
  tokens: TokenInfo[];
  units: Unit[];
  ids: number[];
  targetIds: number[];
  promptLen: number;
  /** factors of the S sequence columns, then of the encoder columns (captioners) */
  factorsOf: (u: number) => Float32Array;
  /**
   * Text prompts only: the units of this prompt at another granularity, and the factors of any
   * list of units with the same similarity as factorsOf (so a unit's pass is the same at every level).
   */
  levels?: {
    unitsAt: (granularity: Granularity) => Unit[];
    factorsFor: (units: Unit[]) => (u: number) => Float32Array;
  };
  context?: DecoderContext;
  encoderLength: number;
  image?: ExplainedImage;
}

/** Tokenises, validates and builds the units and their factors: everything but the passes. */
export async function prepare(
  model: AtmanModel,
  req: PrepareRequest,
  /** control: false leaves the controlled session as it is and builds no factors (methods that do not use the AtMan control) */
  opts: { control?: boolean } = {},
): Promise<Prepared> {
  const control = opts.control ?? true;
  const imageReq = req.image;
  if (imageReq && !model.vision) throw new AtmanError('BAD_SETTING', `${model.id} reads text only; remove the image or pick a vision-language model.`);
  if (!imageReq && model.layout === 'vision2seq') throw new AtmanError('IMAGE_REQUIRED', `${model.id} describes images: add an image to explain.`);
  // A captioner may start from its start token alone.
  validateTexts(model.layout === 'vision2seq' ? req.prompt || '-' : req.prompt, req.target);
  const settings = validateSettings(req.settings ?? {});
  if (control) await model.reconfigure(settings.mode, settings.layers);

  const withImage = imageReq ? await imagePrompt(model, req.prompt, imageReq.image) : null;
  const prompt = withImage?.prompt ?? req.prompt;
  const promptTokens = withImage?.tokens ?? textPromptTokens(model, req.prompt, settings.chat);
  const targetTokens = model.tokenizer.encodeTarget(req.target);
  if (promptTokens.length === 0) throw new AtmanError('EMPTY_PROMPT', 'The prompt has no tokens.');
  if (targetTokens.length === 0) throw new AtmanError('EMPTY_TARGET', 'The target has no tokens.');
  const tokens = [...promptTokens, ...targetTokens];
  const P = promptTokens.length;
  const T = targetTokens.length;
  const S = P + T - 1;
  if (S > model.config.maxPositions) {
    throw new AtmanError('TOO_LONG', `Prompt and target together are ${S + 1} tokens; this model reads at most ${model.config.maxPositions}.`);
  }
  const ids = tokens.slice(0, S).map((t) => t.id);
  let units = buildUnits(tokens, prompt, settings.granularity, {
    tokenOverlap: settings.tokenOverlap,
    targetTokenUnits: settings.targetGranularity === 'token',
  });
  const base = { settings, prompt, tokens, ids, targetIds: targetTokens.map((t) => t.id), promptLen: P };
  if (!withImage) {
    // An in-sequence model without an image reads embeddings all the same.
    const context = model.vision?.embedTokens ? { embeds: await embedTokens(model.vision, model.backend, ids) } : undefined;
    const rows = context?.embeds ? [{ rows: context.embeds.data, dim: context.embeds.dim, count: S }] : null;
    if (!control) return { ...base, units, encoderLength: 0, ...(context ? { context } : {}), factorsOf: noFactors };
    const similarity = similarityOf(model, ids, settings, rows);
    const factorsFor = (list: Unit[]) => unitFactorFn(list, S, settings, similarity);
    const unitsAt = (granularity: Granularity) =>
      buildUnits(tokens, prompt, granularity, { tokenOverlap: settings.tokenOverlap, targetTokenUnits: settings.targetGranularity === 'token' });
    return { ...base, units, encoderLength: 0, ...(context ? { context } : {}), factorsOf: factorsFor(units), levels: { unitsAt, factorsFor } };
  }
  const img = await imageContext(model, withImage, ids);
  // The processor's own tokens are explained as image units, not as text.
  const [from, to] = withImage.inserted ?? [0, 0];
  units = units.filter((u) => !u.positions.every((p) => p >= from && p < to));
  const all = [...units, ...imageUnits(withImage, img.columns, imageReq!, settings)].sort((a, b) => Math.min(...a.positions) - Math.min(...b.positions));
  return {
    ...base,
    units: all,
    context: img.context,
    encoderLength: img.encoderLength,
    image: describeImage(withImage, imageReq!.image, img.columns, img.encoderLength ? 'encoder' : 'sequence'),
    factorsOf: control ? unitFactorFn(all, ids.length + img.encoderLength, settings, similarityOf(model, ids, settings, img.similarityRows)) : noFactors,
  };
}

const noFactors = (): Float32Array => {
  throw new Error('factors were not prepared for this run');
};

export const plainTokens = (tokens: TokenInfo[]): Explanation['tokens'] =>
  tokens.map(({ id, text, start, end, role, special }) => ({ id, text, start, end, role, ...(special ? { special } : {}) }));

/** The units a run would use and the factors of each (what conceptual suppression drags along). */
export async function planUnits(model: AtmanModel, req: PrepareRequest): Promise<UnitPlan> {
  const p = await prepare(model, req);
  return {
    tokens: plainTokens(p.tokens),
    units: p.units.map((u, i) => ({ label: u.label, positions: u.positions, factors: changedFactors(p.factorsOf(i)) })),
    settings: p.settings,
  };
}

/** Input vectors of consecutive columns that share one space (text and image embeddings of one decoder, or an encoder's output). */
export interface SimilarityRows {
  /** null: no vectors for these columns, each is only like itself */
  rows: Float32Array | null;
  dim: number;
  count: number;
}

/** Similarity of two columns for conceptual suppression; each column is only like itself when it is off. */
function similarityOf(
  model: AtmanModel,
  ids: number[],
  settings: ExplainSettings,
  /** default: the token-embedding rows of `ids` */
  rowGroups: SimilarityRows[] | null,
): (i: number, k: number) => number {
  const S = ids.length;
  if (settings.kappa === null) return (i, k) => (i === k ? 1 : 0);
  let groups = rowGroups;
  if (!groups) {
    const table = model.embeddings;
    if (!table) {
      throw new AtmanError(
        'MODEL_UNSUPPORTED',
        'Conceptual suppression needs the token-embedding matrix, which could not be read from this graph. Turn conceptual suppression off (kappa off).',
      );
    }
    const flat = new Float32Array(S * table.dim);
    ids.forEach((id, i) => flat.set(table.row(id), i * table.dim));
    groups = [{ rows: flat, dim: table.dim, count: S }];
  }
  return blockSimilarity(groups);
}

function unitFactorFn(units: Unit[], columns: number, settings: ExplainSettings, similarity: (i: number, k: number) => number): (u: number) => Float32Array {
  const cache = new Map<number, Float32Array>();
  return (u) => {
    let phi = cache.get(u);
    if (!phi) cache.set(u, (phi = unitFactors(units[u]!, columns, settings.factor, settings.kappa, similarity)));
    return phi;
  };
}

/** Cosine similarity within each group of columns; columns of different spaces are never alike. */
function blockSimilarity(groups: SimilarityRows[]): (i: number, k: number) => number {
  const blocks: Array<{ from: number; to: number; sim: (i: number, k: number) => number }> = [];
  let from = 0;
  for (const g of groups) {
    const sim = g.rows ? similarityFromMatrix(cosineSimilarityMatrix(g.rows, g.count, g.dim), g.count) : (i: number, k: number) => (i === k ? 1 : 0);
    blocks.push({ from, to: from + g.count, sim });
    from += g.count;
  }
  return (i, k) => {
    if (i === k) return 1;
    const b = blocks.find((x) => i >= x.from && i < x.to);
    return b && k >= b.from && k < b.to ? b.sim(i - b.from, k - b.from) : 0;
  };
}

export function changedFactors(phi: Float32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  phi.forEach((f, i) => f !== 1 && out.push([i, f]));
  return out;
}
