// A small, valid Explanation for the state tests (not imported by the app).
import { DEFAULT_SETTINGS } from '../core/types';
import type { Explanation } from '../protocol/engine-api';

export function sampleExplanation(over: Partial<Explanation> = {}): Explanation {
  const prompt = 'The cat sat.';
  const target = ' The cat';
  return {
    schemaVersion: 1,
    sign: 'score = CE(suppressed) - CE(unperturbed)',
    prompt,
    target,
    tokens: [
      { id: 1, text: 'The', start: 0, end: 3, role: 'prompt' },
      { id: 2, text: ' cat', start: 3, end: 7, role: 'prompt' },
      { id: 3, text: ' sat.', start: 7, end: 12, role: 'prompt' },
      { id: 1, text: ' The', start: 0, end: 4, role: 'target' },
      { id: 2, text: ' cat', start: 4, end: 8, role: 'target' },
    ],
    units: [
      { label: 'The', positions: [0], score: 0.125, perTarget: [0.1, 0.025], factors: [[0, 0.1]] },
      { label: ' cat', positions: [1], score: -0.3333333333333333, perTarget: [-0.2, -0.13333333333333333], factors: [[1, 0.1], [3, 0.55]] },
      { label: ' sat.', positions: [2], score: 1.2345678901234567, perTarget: [1, 0.2345678901234567], factors: [[2, 0.1]] },
    ],
    baseline: { crossEntropy: [2.5, 3.75] },
    settings: structuredClone(DEFAULT_SETTINGS),
    model: { id: 'tiny-gpt2', dtype: 'fp32', backend: 'wasm', device: 'wasm', file: 'onnx/model.onnx' },
    passes: 4,
    batchSize: 4,
    run: { scoreHead: true, prefixReuse: 'used', notes: [], batches: 1, batchSize: 4, rowsComputed: 10, rowsFullRecompute: 16, passesSkipped: 0, ioPeakBytes: 1000 },
    seconds: 0.5,
    ...over,
  };
}
