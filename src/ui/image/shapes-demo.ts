// The bundled vision-language demo: a small Idefics3-layout model trained on pictures of coloured
// shapes, with example pictures whose evidence (the asked shape's box) is known.
import type { Rect } from '../../core/image-regions';
import type { Actions } from '../../state/actions';
import { isBundled } from '../../state/model-catalog';
import type { AppStore } from '../../state/slices/store';
import { applyChoice } from '../../state/bootstrap';
import { clearResults, demoSettings } from '../../state/demos';
import { pictureFromUrl } from './prepare-image';

export const SHAPES_DEMO_ID = 'atman-demo-shapes';

export interface ShapesExample {
  /** path inside the model folder */
  image: string;
  width: number;
  height: number;
  question: string;
  prompt: string;
  /** the expected answer, leading space included: the target */
  answer: string;
  /** the asked shape's box, in pixels of this picture */
  evidence: Rect;
}

/** Whether this build ships the demo (the catalog lists it once its files exist). */
export const shapesDemoAvailable = (): boolean => isBundled(SHAPES_DEMO_ID);

const base = (): string => `/models/${SHAPES_DEMO_ID}/`;

const isBox = (b: unknown): b is Rect =>
  typeof b === 'object' && b !== null && ['left', 'top', 'width', 'height'].every((k) => Number.isFinite((b as Record<string, unknown>)[k]));

/** The demo's examples (checked; bad entries dropped); [] when the demo is not served here. */
export async function fetchShapesExamples(fetchFn: typeof fetch = fetch): Promise<ShapesExample[]> {
  try {
    const r = await fetchFn(`${base()}examples/examples.json`);
    if (!r.ok) return [];
    const list: unknown = await r.json();
    if (!Array.isArray(list)) return [];
    return list
      .filter(
        (e): e is ShapesExample =>
          typeof e?.image === 'string' &&
          /^[\w./-]+$/.test(e.image) &&
          !e.image.includes('..') &&
          typeof e.prompt === 'string' &&
          typeof e.answer === 'string' &&
          typeof e.question === 'string' &&
          Number.isInteger(e.width) &&
          Number.isInteger(e.height) &&
          isBox(e.evidence),
      )
      .map((e) => ({ image: e.image, width: e.width, height: e.height, question: e.question, prompt: e.prompt, answer: e.answer, evidence: e.evidence }));
  } catch {
    return [];
  }
}

/** The address of an example's picture on this site. */
export const exampleImageUrl = (e: ShapesExample): string => `${base()}${e.image}`;

/** Short label for a picker: "What colour is the triangle? (64 px)". */
export const exampleLabel = (e: ShapesExample): string => `${e.question} (${e.width} px)`;

/** The smallest picture of each scene first: quickest to explain, and the model's own resolution. */
export function preferredExample(list: readonly ShapesExample[]): ShapesExample | undefined {
  return [...list].sort((a, b) => a.width - b.width)[0];
}

/**
 * Switches to the demo model (if needed) and puts the example's picture, prompt and target in place.
 * `run`: the demo button's one click: token units (each image token its own unit: a sentence would
 * make the whole picture one unit in one colour), no result of another model or picture left on
 * the page, and the explanation computed straight away.
 */
export async function loadShapesExample(store: AppStore, actions: Actions, example?: ShapesExample, opts: { run?: boolean } = {}): Promise<boolean> {
  const s = store.getState();
  const onDemo = s.modelChoice.kind === 'bundled' && s.modelChoice.id === SHAPES_DEMO_ID;
  if (opts.run) {
    if (s.status !== 'idle') return false;
    clearResults(store);
    store.setState({ settings: demoSettings(s.settings, { kind: 'token' }) });
  }
  const loading = onDemo ? null : applyChoice(store, actions, { kind: 'bundled', id: SHAPES_DEMO_ID });
  const ex = example ?? preferredExample(await fetchShapesExamples());
  if (!ex) {
    await loading;
    store.getState().setError({ code: 'DEMO_MISSING', message: 'The shapes demo examples could not be loaded from this site.' });
    return false;
  }
  store.setState({ prompt: ex.prompt, target: ex.answer, generation: null });
  const ok = await pictureFromUrl(store, exampleImageUrl(ex), 'example', ex.image.split('/').pop());
  await loading;
  if (ok && opts.run) await actions.explain();
  return ok;
}
