// The bundled demo model (public/models/atman-demo-facts) through the engine in Node: it answers
// its first example, and AtMan puts the highest score on the sentence that holds the answer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtmanModel } from '../../src/runtime/atman/atman-model';
import { explain } from '../../src/runtime/atman/explain';
import { generateGreedy } from '../../src/runtime/atman/generate';
import { createNodeBackend } from '../../src/runtime/backends/node-backend';
import { folderSource } from '../../src/runtime/sources/folder-source';
import { type Example, sentenceVerdict, tokenVerdict } from './evaluate';
import { MODEL_DIR } from './export';

const examples = JSON.parse(readFileSync(join(MODEL_DIR, 'examples.json'), 'utf8')) as Example[];
const config = JSON.parse(readFileSync(join(MODEL_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;

describe('atman-demo-facts', () => {
  let model: AtmanModel;
  beforeAll(async () => {
    model = await AtmanModel.load(folderSource(MODEL_DIR), createNodeBackend({ threads: 1 }));
  });
  afterAll(async () => {
    await model?.current.session.release();
  });

  it('is a llama config with the demo facts', () => {
    expect(config.model_type).toBe('llama');
    expect(config.atman_demo).toMatchObject({ trained_by: 'scripts/demo-model/train.py' });
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const e of examples) expect(e.prompt).toContain(e.evidence);
  });

  it('answers the first example greedily', async () => {
    const ex = examples[0]!;
    expect(await generateGreedy(model, ex.prompt, 3)).toBe(ex.target);
    // After the answer the model ends the document: nothing to decode, an empty continuation.
    expect(await generateGreedy(model, ex.prompt + ex.target, 3)).toBe('');
  });

  it('puts the highest sentence score on the evidence sentence', async () => {
    const ex = examples[0]!;
    const e = await explain(model, { prompt: ex.prompt, target: ex.target, settings: { granularity: { kind: 'sentence' } } });
    expect(e.units.map((u) => u.label)).toContain(ex.evidence);
    const v = sentenceVerdict(e, ex);
    expect(v.top).toBe(ex.evidence);
    expect(v.margin).toBeGreaterThan(0);
    // and among the fact sentences only the evidence one clearly matters
    const evidence = e.units.find((u) => u.label === ex.evidence)!;
    expect(evidence.score).toBeGreaterThan(0.5);
  });

  it('puts the highest token score (question aside) inside the evidence sentence', async () => {
    const ex = examples[0]!;
    const e = await explain(model, { prompt: ex.prompt, target: ex.target, settings: { granularity: { kind: 'token' } } });
    expect(tokenVerdict(e, ex).hit).toBe(true);
  });
});
