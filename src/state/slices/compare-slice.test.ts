import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCUMENT_QA_SETTINGS } from '../../core/presets';
import { type NodeEnginePort, nodeEnginePort } from '../../testing/engine-port';
import { createActions } from '../actions';
import { comparisonMismatch, selectComparisonFaithfulness, selectPrimaryFaithfulness, taskWords } from './compare-slice';
import { explanationKey, roundSummary, sanitizeFaithfulness } from '../faithfulness-summary';
import { decodeShare } from '../links/share-codec';
import { applyDecodedShare, buildShareLink } from '../links/share-sync';
import { STORAGE_KEY, createAppStore } from './store';
import { sampleExplanation } from '../../testing/sample-explanation';

const DEMO = 'public/models/atman-demo-facts';
const example = (JSON.parse(readFileSync(`${DEMO}/examples.json`, 'utf8')) as Array<{ prompt: string; target: string; evidence: string }>)[0]!;

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), m };
};

function setup(engine: NodeEnginePort, storage = memory()) {
  const store = createAppStore(storage);
  const actions = createActions(store, () => engine, { origin: 'http://localhost' });
  store.setState({ prompt: example.prompt, target: example.target, settings: structuredClone({ ...DOCUMENT_QA_SETTINGS, granularity: { kind: 'sentence' } }) as never });
  return { store, actions, storage };
}

describe('compare and faithfulness actions on the demo model (onnxruntime-node)', () => {
  let engine: NodeEnginePort;
  beforeAll(async () => {
    engine = await nodeEnginePort(DEMO);
  });
  afterAll(async () => engine.release());

  it('Compare explains first when there is no result, then runs the second method over the same units', async () => {
    const { store, actions } = setup(engine);
    store.getState().setCompareMethod('occlusion-delete');
    engine.calls.length = 0;
    await actions.compare();
    const s = store.getState();
    expect(s.error).toBeNull();
    expect(engine.calls).toEqual(['load', 'explain:atman', 'explain:occlusion-delete']);
    expect(s.explanation!.method ?? 'atman').toBe('atman');
    expect(s.comparison!.method).toBe('occlusion-delete');
    expect(s.comparison!.units.map((u) => u.label)).toEqual(s.explanation!.units.map((u) => u.label));
    expect(comparisonMismatch(s.explanation, s.comparison)).toBeNull();
    // AtMan ranks the evidence sentence first on this example; the other side scores the same sentences.
    const x = s.explanation!;
    const best = x.units.reduce((b, u, i) => (u.score > x.units[b]!.score ? i : b), 0);
    expect(x.units[best]!.label.trim()).toBe(example.evidence);
    expect(s.comparison!.units.some((u, i) => u.score !== x.units[i]!.score)).toBe(true);
    expect(s.task).toBeNull();
    expect(s.status).toBe('idle');
    // A second Compare with a current result runs only the second method.
    engine.calls.length = 0;
    store.getState().setCompareMethod('rollout');
    await actions.compare();
    expect(engine.calls).toEqual(['explain:rollout']);
    expect(store.getState().comparison!.method).toBe('rollout');
    expect(store.getState().comparison!.units.every((u) => u.score >= 0)).toBe(true);
  });

  it('measures faithfulness of each side, ties it to its result and keeps it across a reload', async () => {
    const { store, actions, storage } = setup(engine);
    await actions.compare();
    const runsBefore = store.getState().finishedRuns;
    await actions.measureFaithfulness('primary');
    await actions.measureFaithfulness('comparison');
    expect(store.getState().finishedRuns).toBe(runsBefore + 2);
    const s = store.getState();
    expect(s.error).toBeNull();
    const f = selectPrimaryFaithfulness(s)!;
    const g = selectComparisonFaithfulness(s)!;
    expect(f.method).toBe('atman');
    expect(g.method).toBe('occlusion-delete');
    for (const m of [f, g]) {
      expect(m.ks).toEqual(Array.from({ length: s.explanation!.units.length + 1 }, (_, k) => k));
      for (const v of [m.aopc, m.abpc, m.randomAbpc!]) {
        expect(v).toBeGreaterThanOrEqual(-1);
        expect(v).toBeLessThanOrEqual(1);
      }
      // deletion starts and insertion ends at the unperturbed probability
      expect(m.deletion[0]).toBeCloseTo(m.p0, 6);
      expect(m.insertion[m.insertion.length - 1]).toBeCloseTo(m.p0, 6);
      expect(m.abpc).toBeCloseTo(m.insertionAuc - m.deletionAuc, 9);
      expect(m.random!.runs).toBe(3);
    }
    // The evidence sentence on top: removing it first hurts more than a random order does.
    expect(f.abpc).toBeGreaterThan(f.randomAbpc!);
    expect(f.aopc).toBeGreaterThan(f.random!.aopc);

    const after = createAppStore(storage).getState();
    expect(selectPrimaryFaithfulness(after)).toEqual(f);
    expect(selectComparisonFaithfulness(after)).toEqual(g);
    expect(after.comparison).toEqual(s.comparison);

    // A new result with another ranking does not show the old numbers.
    store.getState().updateSettings({ granularity: { kind: 'word' } });
    await actions.explain();
    expect(selectPrimaryFaithfulness(store.getState())).toBeNull();
    expect(comparisonMismatch(store.getState().explanation, store.getState().comparison)).toMatch(/other units/);
  });

  it('a copied link carries the comparison, both measurements (rounded) and the steering to a fresh page', async () => {
    const { store, actions } = setup(engine);
    await actions.compare();
    await actions.measureFaithfulness('primary');
    await actions.measureFaithfulness('comparison');
    const evidence = example.prompt.indexOf(example.evidence);
    store.getState().toggleSteerUnit({ span: [evidence, evidence + example.evidence.length], label: example.evidence, factor: 0 });
    store.getState().setSteerMaxNewTokens(2);
    await actions.steerGenerate();
    expect(store.getState().error).toBeNull();
    Object.assign(globalThis, { location: { origin: 'http://h', pathname: '/', search: '', hash: '' } });
    const link = await buildShareLink(store.getState(), true);
    expect(link.scores).toBe('all');
    const to = createAppStore(memory());
    applyDecodedShare(to, await decodeShare(new URL(link.url).hash));
    const t = to.getState();
    const from = store.getState();
    expect(t.notices).toEqual([]);
    expect(t.comparison).toEqual(from.comparison);
    expect(t.compareMethod).toBe('occlusion-delete');
    const f = selectPrimaryFaithfulness(t)!;
    expect(f).toEqual(roundSummary(selectPrimaryFaithfulness(from)!));
    expect(selectComparisonFaithfulness(t)).toEqual(roundSummary(selectComparisonFaithfulness(from)!));
    expect(Math.abs(f.aopc - selectPrimaryFaithfulness(from)!.aopc)).toBeLessThanOrEqual(5e-5);
    expect(t.steerUnits).toEqual(from.steerUnits);
    expect(t.steerResult!.steered.text).toBe(from.steerResult!.steered.text);
    expect(t.steerResult!.unsteered.text).toBe(from.steerResult!.unsteered.text);
  });

  it("integrated gradients runs with the panel's steps, shows its progress, cancels between batches; links and reloads keep the steps", async () => {
    const { store, actions, storage } = setup(engine);
    store.getState().setCompareMethod('integrated-gradients');
    store.getState().setCompareSteps(0);
    store.getState().setCompareSteps(2.5);
    expect(store.getState().compareSteps).toBe(50);
    store.getState().setCompareSteps(3);
    const seen: Array<string | null> = [];
    const unsub = store.subscribe((s) => seen.push(s.task ? `${taskWords(s)} ${s.progress?.done ?? 0}/${s.progress?.total ?? 0}` : null));
    await actions.compare();
    unsub();
    let s = store.getState();
    expect(s.error).toBeNull();
    const y = s.comparison!;
    expect(y.method).toBe('integrated-gradients');
    expect(y.run.steps).toBe(3);
    expect(y.run.completeness).toBeDefined();
    // 3 nodes per target token and the path's two ends, each reported as it is done
    const T = y.tokens.filter((t) => t.role === 'target').length;
    expect(y.passes).toBe(3 * T + 2);
    expect(seen).toContain(`Comparing with integrated-gradients ${y.passes}/${y.passes}`);
    expect(s.progress).toMatchObject({ done: y.passes, total: y.passes });

    // the steps travel with the comparison in a link, and survive a reload
    Object.assign(globalThis, { location: { origin: 'http://h', pathname: '/', search: '', hash: '' } });
    const link = await buildShareLink(s, true);
    expect(link.url).toMatch(/&csteps=3(&|$)/);
    const to = createAppStore(memory());
    applyDecodedShare(to, await decodeShare(new URL(link.url).hash));
    expect(to.getState().notices).toEqual([]);
    expect(to.getState().compareMethod).toBe('integrated-gradients');
    expect(to.getState().compareSteps).toBe(3);
    expect(to.getState().comparison!.run.steps).toBe(3);
    expect(createAppStore(storage).getState().compareSteps).toBe(3);

    // one pass per batch, so a cancel lands between the gradient batches; the shown comparison stays
    store.getState().setCompareSteps(40);
    const cancelOnProgress = store.subscribe((st) => {
      if (st.task === 'compare' && st.progress && st.progress.done > 0) actions.cancel();
    });
    const slow = createActions(store, () => engine, { origin: 'http://localhost', batchSize: 1 });
    await slow.compare();
    cancelOnProgress();
    s = store.getState();
    expect(s.error?.code).toBe('CANCELLED');
    expect(s.compareError?.code).toBe('CANCELLED');
    expect(s.comparison).toBe(y);
    expect(s.task).toBeNull();
  });

  it('a cancelled measurement sets CANCELLED and keeps the result and earlier numbers', async () => {
    const { store, actions } = setup(engine);
    await actions.explain();
    await actions.measureFaithfulness('primary');
    const kept = selectPrimaryFaithfulness(store.getState());
    expect(kept).not.toBeNull();
    const x = store.getState().explanation;
    const seen: Array<string | null> = [];
    const unsub = store.subscribe((s) => {
      seen.push(s.task ? taskWords(s) : null);
      if (s.task === 'faithfulness' && s.status === 'explaining' && s.progress && s.progress.done > 0) actions.cancel();
    });
    // one pass per batch, so the cancel lands between batches
    const slow = createActions(store, () => engine, { origin: 'http://localhost', batchSize: 1 });
    await slow.measureFaithfulness('primary');
    unsub();
    const s = store.getState();
    expect(s.error?.code).toBe('CANCELLED');
    expect(s.explanation).toBe(x);
    expect(selectPrimaryFaithfulness(s)).toEqual(kept);
    expect(s.task).toBeNull();
    expect(seen).toContain('Measuring faithfulness');
  });
});

describe('compare on a fused-attention model', () => {
  let engine: NodeEnginePort;
  beforeAll(async () => {
    engine = await nodeEnginePort('fixtures/models/tiny-llama-gqa', 'log-additive');
  });
  afterAll(async () => engine.release());

  it('raw attention reads the fused attention rewritten as standard ops, beside the AtMan result', async () => {
    const store = createAppStore(memory());
    const actions = createActions(store, () => engine, { origin: 'http://localhost' });
    store.setState({ prompt: 'The cat sat on the mat.', target: ' The cat' });
    store.getState().updateSettings({ mode: 'log-additive' });
    store.getState().setCompareMethod('attention');
    await actions.compare();
    const s = store.getState();
    expect(s.explanation).not.toBeNull();
    expect(s.compareError).toBeNull();
    expect(s.comparison?.method).toBe('attention');
    expect(s.comparison?.run.attention).toMatch(/GroupQueryAttention rewritten as standard ops/);
  });
});

describe('compare with the layers restricted in the settings', () => {
  let engine: NodeEnginePort;
  beforeAll(async () => {
    engine = await nodeEnginePort('fixtures/models/tiny-gpt2');
  });
  afterAll(async () => engine.release());

  it('raw attention reads the settings\' layers unless the compare panel names its own', async () => {
    const store = createAppStore(memory());
    const actions = createActions(store, () => engine, { origin: 'http://localhost' });
    store.setState({ prompt: 'The cat sat on the mat.', target: ' The cat' });
    store.getState().updateSettings({ layers: [1] });
    store.getState().setCompareMethod('attention');
    await actions.compare();
    expect(store.getState().compareError).toBeNull();
    expect(store.getState().comparison?.settings.layers).toEqual([1]);
    expect(store.getState().comparison?.run.notes.join(' ')).toMatch(/layers 1, heads all/);
    store.getState().setCompareAttention({ layers: [0] });
    await actions.compare();
    expect(store.getState().comparison?.run.notes.join(' ')).toMatch(/layers 0, heads all/);
  });
});

describe('faithfulness summaries and compare state', () => {
  const summary = () => ({
    of: explanationKey(sampleExplanation()),
    method: 'atman',
    unitCount: 3,
    ks: [0, 1, 2, 3],
    p0: 0.5,
    deletion: [0.5, 0.2, 0.1, 0.05],
    insertion: [0.05, 0.3, 0.45, 0.5],
    aopc: 0.2875,
    abpc: 0.1875,
    deletionAuc: 0.2125,
    insertionAuc: 0.325,
    random: { deletion: [0.5, 0.3, 0.2, 0.05], insertion: [0.05, 0.2, 0.3, 0.5], aopc: 0.2, abpc: 0, runs: 3 },
    randomAbpc: 0,
    removalFactor: 0,
    mode: 'multiplicative',
    seconds: 1.23456,
  });

  it('keys change with the ranking and the inputs, not with the score values', () => {
    const x = sampleExplanation();
    const k = explanationKey(x);
    expect(explanationKey({ ...x, units: x.units.map((u) => ({ ...u, score: u.score * 2 })) })).toBe(k);
    expect(explanationKey({ ...x, units: x.units.map((u, i) => ({ ...u, score: i === 0 ? 9 : u.score })) })).not.toBe(k);
    expect(explanationKey({ ...x, target: ' The dog' })).not.toBe(k);
    expect(explanationKey({ ...x, method: 'rollout' })).not.toBe(k);
  });

  it('sanitizes summaries field by field and rounds them for links', () => {
    const problems: string[] = [];
    expect(sanitizeFaithfulness(summary(), problems)).toEqual(summary());
    expect(problems).toEqual([]);
    for (const bad of [
      { ...summary(), aopc: 3 },
      { ...summary(), deletion: [0.5, 0.2] },
      { ...summary(), ks: [0, 2, 1, 3] },
      { ...summary(), method: 'magic' },
      { ...summary(), random: { ...summary().random, insertion: [1, 2, 3, 4] } },
      { ...summary(), removalFactor: 1 },
      'text',
    ]) {
      const p: string[] = [];
      expect(sanitizeFaithfulness(bad, p)).toBeNull();
      expect(p.length).toBe(1);
    }
    const r = roundSummary({ ...summary(), aopc: 0.123456789, deletion: [0.5, 0.2000049, 0.1, 0.05] } as never);
    expect(r.aopc).toBe(0.1235);
    expect(r.deletion[1]).toBe(0.2);
    expect(r.seconds).toBe(1.23);
  });

  it('drops a tampered saved comparison or measurement with a notice, keeps the rest', () => {
    const storage = memory();
    storage.setItem(
      STORAGE_KEY,
      JSON.stringify({
        version: 1,
        state: { prompt: 'kept', compareMethod: 'nope', compareScale: 'shared', compareAttention: { layers: [0, 'x'], query: 'last-prompt' }, comparison: { units: 5 }, faithfulness: { primary: { ...summary(), abpc: 'x' } } },
      }),
    );
    const s = createAppStore(storage).getState();
    expect(s.prompt).toBe('kept');
    expect(s.compareMethod).toBe('occlusion-delete');
    expect(s.compareScale).toBe('shared');
    expect(s.compareAttention).toEqual({ layers: null, heads: null, query: 'last-prompt' });
    expect(s.comparison).toBeNull();
    expect(s.faithfulness).toEqual({ primary: null, comparison: null });
    expect(s.notices.length).toBe(4);
  });

  it('keeps a baseline method through sanitizing (storage and links)', () => {
    const storage = memory();
    const y = sampleExplanation({ method: 'occlusion-mask' });
    createAppStore(storage).setState({ comparison: y });
    expect(createAppStore(storage).getState().comparison?.method).toBe('occlusion-mask');
  });
});

describe('explanationKey', () => {
  it('does not depend on the order of the settings fields', () => {
    const x = sampleExplanation();
    const reordered = Object.fromEntries(Object.entries(x.settings).reverse()) as typeof x.settings;
    expect(explanationKey({ ...x, settings: reordered })).toBe(explanationKey(x));
    expect(explanationKey({ ...x, settings: { ...x.settings, factor: 0.2 } })).not.toBe(explanationKey(x));
  });
});

describe('comparisonMismatch', () => {
  it('names what differs: texts, units, settings', () => {
    const x = sampleExplanation();
    const y = sampleExplanation({ method: 'rollout' });
    expect(comparisonMismatch(x, y)).toBeNull();
    expect(comparisonMismatch(x, { ...y, target: ' A dog' })).toMatch(/another prompt or target/);
    expect(comparisonMismatch(x, { ...y, units: y.units.slice(1) })).toMatch(/other units/);
    expect(comparisonMismatch(x, { ...y, settings: { ...y.settings, postprocess: 'square' } })).toMatch(/other settings/);
    expect(comparisonMismatch(null, y)).toBeNull();
  });
});
