// The synthetic shapes task of the vision-language demo model: 2-3 solid shapes (circle, square,
// triangle; distinct kinds, distinct colours) on a light background, and one question about them:
// "What colour is the triangle?" (answer: its colour) or "Which shape is red?" (answer: its kind).
// The region that holds the answer is the asked shape's bounding box.
// train.py implements the same generator and rasteriser over the same mulberry32 stream
// (scripts/fixtures/prng.ts), so one seed gives the same scenes, pixel for pixel, in both.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng } from '../fixtures/prng';

export interface ShapesTask {
  imageSize: number;
  shapes: string[];
  colours: Record<string, [number, number, number]>;
  minShapes: number;
  maxShapes: number;
  minSize: number;
  maxSize: number;
  /** free pixels between a shape and the image edge */
  border: number;
  /** free pixels between two shapes' bounding boxes */
  gap: number;
  background: { min: number; max: number };
  colourQuestion: string;
  shapeQuestion: string;
  colourQuestionProbability: number;
  answerStem: string;
  imageToken: string;
  endToken: string;
}

export interface PlacedShape {
  shape: string;
  colour: string;
  /** bounding box in pixels of the imageSize x imageSize image */
  left: number;
  top: number;
  size: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Scene {
  shapes: PlacedShape[];
  background: [number, number, number];
  /** index of the asked shape */
  asked: number;
  kind: 'colour' | 'shape';
  question: string;
  /** the answer with its leading space, e.g. " red" */
  target: string;
}

export const HERE = dirname(fileURLToPath(import.meta.url));
export const TASK: ShapesTask = JSON.parse(readFileSync(join(HERE, 'task.json'), 'utf8')) as ShapesTask;

/** The text prompt for one question: the image first, then the question and the answer stem. */
export function promptFor(question: string, task: ShapesTask = TASK): string {
  return task.imageToken + question + task.answerStem;
}

/** The asked shape's bounding box in pixels of an image rendered at `scale`. */
export function evidenceBox(scene: Scene, scale = 1): Box {
  const s = scene.shapes[scene.asked]!;
  return { left: s.left * scale, top: s.top * scale, width: s.size * scale, height: s.size * scale };
}

/** Every word of the task's text, as the tokenizer's pre-tokenizer splits it. */
export function taskWords(task: ShapesTask = TASK): string[] {
  const words = new Set<string>();
  const addText = (text: string) => {
    for (const m of text.matchAll(/ ?[A-Za-z]+|[?:]/g)) words.add(m[0]);
  };
  addText(task.colourQuestion.replace(' {shape}', ''));
  addText(task.shapeQuestion.replace(' {colour}', ''));
  addText(task.answerStem);
  for (const s of task.shapes) words.add(' ' + s);
  for (const c of Object.keys(task.colours)) words.add(' ' + c);
  return [...words];
}

/** Draws scenes from one mulberry32 stream. */
export class SceneGenerator {
  private readonly rng: Prng;
  constructor(
    seed: number,
    private readonly task: ShapesTask = TASK,
  ) {
    this.rng = new Prng(seed);
  }


  private place(n: number): Array<{ left: number; top: number; size: number }> {
    const t = this.task;
    const apart = (a: { left: number; top: number; size: number }, b: { left: number; top: number; size: number }) =>
      a.left + a.size + t.gap <= b.left || b.left + b.size + t.gap <= a.left || a.top + a.size + t.gap <= b.top || b.top + b.size + t.gap <= a.top;
    for (;;) {
      const boxes: Array<{ left: number; top: number; size: number }> = [];
      for (let i = 0; i < n; i++) {
        for (let attempt = 0; attempt < 50; attempt++) {
          const size = t.minSize + this.rng.int(t.maxSize - t.minSize + 1);
          const span = t.imageSize - 2 * t.border - size + 1;
          const box = { left: t.border + this.rng.int(span), top: t.border + this.rng.int(span), size };
          if (boxes.every((b) => apart(b, box))) {
            boxes.push(box);
            break;
          }
        }
        if (boxes.length <= i) break;
      }
      if (boxes.length === n) return boxes;
    }
  }

  next(): Scene {
    const t = this.task;
    const n = t.minShapes + this.rng.int(t.maxShapes - t.minShapes + 1);
    const kinds = this.rng.sample(t.shapes, n);
    const colours = this.rng.sample(Object.keys(t.colours), n);
    const bg = t.background;
    const background: [number, number, number] = [0, 0, 0].map(() => bg.min + this.rng.int(bg.max - bg.min + 1)) as [number, number, number];
    const boxes = this.place(n);
    const asked = this.rng.int(n);
    const kind = this.rng.next() < t.colourQuestionProbability ? 'colour' : 'shape';
    const shapes = boxes.map((b, i) => ({ shape: kinds[i]!, colour: colours[i]!, ...b }));
    const s = shapes[asked]!;
    const question = kind === 'colour' ? t.colourQuestion.replace('{shape}', s.shape) : t.shapeQuestion.replace('{colour}', s.colour);
    return { shapes, background, asked, kind, question, target: ' ' + (kind === 'colour' ? s.colour : s.shape) };
  }
}

/**
 * Does the pixel centre (u, v), in units of the 64-pixel image, lie inside the shape? Only exact
 * binary-fraction arithmetic and comparisons, so train.py's numpy gives the same pixels.
 */
function inside(s: PlacedShape, u: number, v: number): boolean {
  if (v < s.top || v >= s.top + s.size) return false;
  const cx = s.left + s.size / 2;
  if (s.shape === 'square') return u >= s.left && u < s.left + s.size;
  if (s.shape === 'circle') {
    const r = s.size / 2;
    const dx = u - cx;
    const dy = v - (s.top + r);
    return dx * dx + dy * dy <= r * r;
  }
  // triangle: apex at the top centre, base along the bottom edge
  return Math.abs(u - cx) <= (v - s.top) * 0.5;
}

/** RGB pixels (height x width x 3, row-major) of the scene rendered at imageSize * scale, hard edges. */
export function renderScene(scene: Scene, scale = 1, task: ShapesTask = TASK): Uint8Array {
  const W = task.imageSize * scale;
  const px = new Uint8Array(W * W * 3);
  for (let y = 0; y < W; y++) {
    const v = (y + 0.5) / scale;
    for (let x = 0; x < W; x++) {
      const u = (x + 0.5) / scale;
      let rgb: readonly number[] = scene.background;
      for (const s of scene.shapes) {
        if (inside(s, u, v)) {
          rgb = task.colours[s.colour]!;
          break;
        }
      }
      const o = (y * W + x) * 3;
      px[o] = rgb[0]!;
      px[o + 1] = rgb[1]!;
      px[o + 2] = rgb[2]!;
    }
  }
  return px;
}

/**
 * What the model is trained on: channels first, x * (1/255) then (x - 0.5) / 0.5 (the image
 * processor's rescale and normalize), each step rounded to float32 as the processor's
 * Float32Array does, so the values are bit-equal to its pixel_values.
 */
export function trainingPixels(rgb: Uint8Array, size: number): Float32Array {
  const lut = Array.from({ length: 256 }, (_, x) => Math.fround((Math.fround(x * (1 / 255)) - 0.5) / 0.5));
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < size * size; i++) out[c * size * size + i] = lut[rgb[i * 3 + c]!]!;
  }
  return out;
}
