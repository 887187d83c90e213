// A small hand-built Explanation whose numbers are easy to check by hand (used by the tests).
//   prompt "The cat sat" (BOS + three tokens whose spans leave the spaces between them as gaps),
//   target " on mat" (two tokens), per-token targets, so the target token "on" is a unit too.
//   baseline CE = [ln 2, ln 4] -> P(target tokens) = 50 %, 25 %.
import type { Explanation } from '../runtime/schema';

const LN2 = Math.log(2);

export function testExplanation(overrides: Partial<Explanation> = {}): Explanation {
  const x = {
    schemaVersion: 1,
    sign: 'paper sign: positive = evidence',
    prompt: 'The cat sat',
    target: ' on mat',
    tokens: [
      { id: 1, text: '<s>', start: 0, end: 0, role: 'prompt', special: true },
      { id: 10, text: 'The', start: 0, end: 3, role: 'prompt' },
      { id: 11, text: 'cat', start: 4, end: 7, role: 'prompt' },
      { id: 12, text: 'sat', start: 8, end: 11, role: 'prompt' },
      { id: 13, text: 'on', start: 1, end: 3, role: 'target' },
      { id: 14, text: 'mat', start: 4, end: 7, role: 'target' },
    ],
    units: [
      // scores: -0.1, 0, ln 8, 0.75, -0.5 -> ranks 4, 3, 1, 2, 5
      { label: '<s>', positions: [0], score: -0.1, perTarget: [0.1, -0.2], factors: [[0, 0.1]] },
      { label: 'The', positions: [1], score: 0, perTarget: [-LN2, LN2], factors: [[1, 0.1]] },
      // suppressing "cat": P(on) 50 % -> 25 %, P(mat) 25 % -> 6.25 %; drags "on" (position 4) along
      { label: 'cat', positions: [2], score: 3 * LN2, perTarget: [LN2, 2 * LN2], factors: [[2, 0.1], [4, 0.37]] },
      { label: 'sat', positions: [3], score: 0.75, perTarget: [0.5, 0.25], factors: [[3, 0.1]] },
      { label: 'on', positions: [4], score: -0.5, perTarget: [0, -0.5], factors: [[4, 0.1]] },
    ],
    baseline: { crossEntropy: [LN2, 2 * LN2] },
    settings: {
      mode: 'multiplicative',
      factor: 0.1,
      kappa: 0.7,
      granularity: { kind: 'token' },
      targetGranularity: 'token',
      postprocess: 'none',
      layers: null,
      tokenOverlap: 'complete',
    },
    model: { id: 'test/tiny', dtype: 'fp32', backend: 'webgpu', device: 'WebGPU: google swiftshader', file: 'onnx/model.onnx' },
    passes: 6,
    batchSize: 16,
    seconds: 2.34,
    ...overrides,
  };
  // Fields added to Explanation later (run reports and the like) are not needed by the views.
  return x as unknown as Explanation;
}

/** The same explanation over the whole target (no target-token units). */
export function completeExplanation(overrides: Partial<Explanation> = {}): Explanation {
  const x = testExplanation();
  return testExplanation({
    units: x.units.slice(0, 4),
    settings: { ...x.settings, targetGranularity: 'complete' },
    passes: 5,
    ...overrides,
  });
}
