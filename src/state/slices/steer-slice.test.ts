import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeEnginePort, nodeEnginePort } from '../../testing/engine-port';
import { createActions } from '../actions';
import { applyDocumentQaPreset, isDocumentQa } from '../document-qa';
import { roundSteerRecord, sanitizeSteerRecord, steerRequestUnits, steerUnitProblem } from './steer-slice';
import { STORAGE_KEY, createAppStore } from './store';
import { completeExplanation } from '../../testing/ui-explanation';

const DEMO = 'public/models/atman-demo-facts';
const examples = JSON.parse(readFileSync(`${DEMO}/examples.json`, 'utf8')) as Array<{ prompt: string; target: string; evidence: string }>;
const ex = examples[0]!;

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), m };
};

describe('steer slice', () => {
  it('toggles parts, clamps factors and the token count', () => {
    const s = createAppStore(memory());
    const st = () => s.getState();
    st().toggleSteerUnit({ span: [0, 4], label: 'Karl' });
    st().toggleSteerUnit({ text: 'painter', label: 'painter', factor: 2 });
    expect(st().steerUnits).toEqual([
      { span: [0, 4], label: 'Karl', factor: 0 },
      { text: 'painter', label: 'painter', factor: 2 },
    ]);
    st().toggleSteerUnit({ span: [0, 4], label: 'Karl' });
    expect(st().steerUnits.map((u) => u.label)).toEqual(['painter']);
    st().setSteerFactor(0, 7);
    expect(st().steerUnits[0]!.factor).toBe(3);
    st().setSteerFactor(0, -1);
    expect(st().steerUnits[0]!.factor).toBe(0);
    st().setSteerMaxNewTokens(1000);
    expect(st().steerMaxNewTokens).toBe(64);
    st().setSteerMaxNewTokens(0);
    expect(st().steerMaxNewTokens).toBe(1);
    expect(steerRequestUnits([{ span: [1, 3], label: 'ar', factor: 0.5 }, { text: 'x', label: 'x', factor: 1 }])).toEqual([
      { span: [1, 3], factor: 0.5 },
      { text: 'x', factor: 1 },
    ]);
  });

  it('notices parts that no longer fit an edited prompt', () => {
    // the example's first word (a name) and its answer word, wherever the bundled example has them
    const name = ex.prompt.split(' ')[0]!;
    const answer = ex.target.trim();
    expect(steerUnitProblem({ span: [0, name.length], label: name, factor: 0 }, ex.prompt)).toBeNull();
    expect(steerUnitProblem({ span: [0, name.length], label: name, factor: 0 }, `Hi ${ex.prompt}`)).toMatch(/no longer/);
    expect(steerUnitProblem({ text: answer, label: answer, factor: 0 }, ex.prompt)).toBeNull();
    expect(steerUnitProblem({ text: 'Rome', label: 'Rome', factor: 0 }, ex.prompt)).toMatch(/does not occur/);
  });

  it('sanitizes saved parts and results; bad ones are dropped with a notice', () => {
    const storage = memory();
    storage.setItem(
      STORAGE_KEY,
      JSON.stringify({
        version: 1,
        state: {
          steerUnits: [{ span: [0, 4], label: 'Karl', factor: 0 }, { span: [4, 2], label: 'x', factor: 1 }, { text: 'a', label: 'a', factor: 9 }],
          steerMaxNewTokens: 5000,
          steerResult: { prompt: 'p', mode: 'multiplicative', maxNewTokens: 2, units: [], steered: { text: 'a', stop: 'eos', tokens: [{ text: 'a', p: 2, other: null }] }, unsteered: null },
        },
      }),
    );
    const s = createAppStore(storage).getState();
    expect(s.steerUnits).toEqual([{ span: [0, 4], label: 'Karl', factor: 0 }]);
    expect(s.steerMaxNewTokens).toBe(8);
    expect(s.steerResult).toBeNull();
    expect(s.notices.length).toBe(4);
  });
});

describe('steering on the demo model (onnxruntime-node)', () => {
  let engine: NodeEnginePort;
  beforeAll(async () => {
    engine = await nodeEnginePort(DEMO);
  });
  afterAll(async () => engine.release());

  const setup = (storage = memory()) => {
    const store = createAppStore(storage);
    const actions = createActions(store, () => engine, { origin: 'http://localhost' });
    store.setState({ prompt: ex.prompt, target: ex.target });
    return { store, actions, storage };
  };
  const span = (text: string): [number, number] => {
    const at = ex.prompt.indexOf(text);
    return [at, at + text.length];
  };

  it('factor 1 everywhere: steered == unsteered; factor 0 on the evidence: the answer changes', async () => {
    const { store, actions, storage } = setup();
    store.getState().toggleSteerUnit({ span: span(ex.evidence), label: ex.evidence, factor: 1 });
    store.getState().setSteerMaxNewTokens(3);
    const live: number[] = [];
    const unsub = store.subscribe((s) => s.steerLive && live.push(s.steerLive.steered.length));
    await actions.steerGenerate();
    unsub();
    const same = store.getState().steerResult!;
    expect(store.getState().error).toBeNull();
    expect(same.steered.text).toBe(same.unsteered.text);
    expect(same.steered.tokens.map((t) => t.p)).toEqual(same.unsteered.tokens.map((t) => t.p));
    expect(same.steered.text.trim().split(/\s+/)[0]).toBe(ex.target.trim());
    expect(same.units).toEqual([{ label: ex.evidence, factor: 1 }]);
    // tokens arrived one step at a time
    expect(Math.max(...live)).toBe(same.steered.tokens.length);
    expect(live).toContain(1);
    expect(store.getState().steerLive).toBeNull();

    store.getState().setSteerFactor(0, 0);
    await actions.steerGenerate();
    const off = store.getState().steerResult!;
    expect(off.unsteered.text).toBe(same.unsteered.text);
    expect(off.steered.tokens[0]!.text.trim()).not.toBe(ex.target.trim());
    // the other run's token, seen by this run: the steered run gives the answer a low probability
    expect(off.steered.tokens[0]!.other!).toBeLessThan(off.unsteered.tokens[0]!.p);
    // greedy: each run's own token is the most likely in its own distribution
    expect(off.unsteered.tokens[0]!.other!).toBeLessThan(off.unsteered.tokens[0]!.p);
    expect(off.steered.tokens[0]!.other!).toBeLessThan(off.steered.tokens[0]!.p);
    // kept across a reload, and valid after rounding for links
    const back = createAppStore(storage).getState();
    expect(back.steerResult).toEqual(off);
    expect(back.steerUnits).toEqual(store.getState().steerUnits);
    const problems: string[] = [];
    expect(sanitizeSteerRecord(JSON.parse(JSON.stringify(roundSteerRecord(off))), problems)).not.toBeNull();
    expect(problems).toEqual([]);
  });

  it('refusals end the run in words; the last result stays', async () => {
    const { store, actions } = setup();
    const before = store.getState().finishedRuns;
    await actions.steerGenerate();
    expect(store.getState().error?.code).toBe('BAD_SETTING');
    expect(store.getState().error?.message).toMatch(/at least one part/);
    expect(store.getState().finishedRuns).toBe(before + 1);
    const name = ex.prompt.split(' ')[0]!;
    store.getState().toggleSteerUnit({ span: [0, name.length], label: name, factor: 0 });
    store.getState().setSteerMaxNewTokens(2);
    await actions.steerGenerate();
    const kept = store.getState().steerResult;
    expect(kept).not.toBeNull();
    store.getState().setPrompt(`Hello. ${ex.prompt}`);
    await actions.steerGenerate();
    expect(store.getState().error?.message).toMatch(/no longer at that place/);
    expect(store.getState().steerResult).toBe(kept);
  });
});

describe('document QA preset', () => {
  it('sets the paper settings and fills the longest bundled document, over the example shown', () => {
    const store = createAppStore(memory());
    // the first visit shows the first (short) example: the preset visibly loads another text
    store.setState({ examples, prompt: ex.prompt, target: ex.target, explanation: completeExplanation(), explanationFromLink: true });
    store.getState().updateSettings({ factor: 0.5, kappa: 0.7 });
    const filled = applyDocumentQaPreset(store);
    const s = store.getState();
    const sentences = (t: string) => t.split(/[.?!](?:\s|$)/).filter((x) => x.trim()).length;
    const longest = Math.max(...examples.map((e) => sentences(e.prompt)));
    expect(sentences(filled!.prompt)).toBe(longest);
    expect(filled!.prompt).not.toBe(ex.prompt);
    expect(s.prompt).toBe(filled!.prompt);
    expect(s.target).toBe(filled!.target);
    expect(filled!.prompt).toContain(filled!.evidence);
    // the old text's result is gone with it
    expect(s.explanation).toBeNull();
    expect(s.explanationFromLink).toBe(false);
    expect(s.settings).toMatchObject({ mode: 'multiplicative', factor: 0, kappa: null, granularity: { kind: 'sentence' }, targetGranularity: 'complete' });
    expect(isDocumentQa(s.settings)).toBe(true);
    // from any other text, the same document
    store.setState({ prompt: 'something else', target: ' x' });
    expect(applyDocumentQaPreset(store)?.prompt).toBe(filled!.prompt);
    // without examples (another model) only the settings change
    store.setState({ examples: [], prompt: 'mine', settings: { ...s.settings, factor: 0.3 } });
    expect(applyDocumentQaPreset(store)).toBeNull();
    expect(store.getState().prompt).toBe('mine');
    expect(store.getState().settings.factor).toBe(0);
    // the chat template choice is the model's input format, not part of the set-up: it stays
    store.getState().updateSettings({ chat: false, factor: 0.5 });
    expect(isDocumentQa(store.getState().settings)).toBe(false);
    applyDocumentQaPreset(store);
    expect(store.getState().settings).toMatchObject({ chat: false, factor: 0 });
    expect(isDocumentQa(store.getState().settings)).toBe(true);
  });
});
