// npm run bench:drill-down [-- --cases 20 --drills 2:0.4,1:0,2:0,3:0 --long-tokens 1000 --long-layers 2 --json FILE]
// How often drill-down (sentence > word > token; at each level at most K units refined, the strongest
// and those reaching share S of its score: --drills K:S,...; S 0 = always the top K) finds the top
// token of full token-level AtMan, and what share of the passes it takes:
//  (a) a document-QA set with known evidence: held-out documents of the bundled demo model's
//      fact-lookup task (a few fact sentences, a question; the answer is the target and the fact
//      sentence that holds it is the evidence), under the document-QA preset and the defaults;
//  (b) one long document (~1000 tokens) on a GPT-2-shaped model with random weights and a key/value
//      cache: passes and seconds of drill-down beside the full token-level run.
// Agreement: drill-down's best token (the highest score among the tokens it scored) is the full run's
// best token (the highest score among all tokens).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DOCUMENT_QA_SETTINGS } from '../src/core/presets';
import type { DrillDownSettings, ExplainSettings } from '../src/core/types';
import { DEFAULT_DRILL_SHARE, DEFAULT_DRILL_TOP } from '../src/core/drill-down';
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explain } from '../src/runtime/atman/explain';
import type { ExplainedUnit, Explanation } from '../src/runtime/schema';
import { folderSource } from '../src/runtime/sources/folder-source';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import { TaskGenerator } from './demo-model/task';
import { writeBenchModel } from './bench-common';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '20' },
    seed: { type: 'string', default: '2' },
    drills: { type: 'string', default: `${DEFAULT_DRILL_TOP}:${DEFAULT_DRILL_SHARE},1:0,2:0,3:0` },
    'long-tokens': { type: 'string', default: '1000' },
    'long-layers': { type: 'string', default: '2' },
    json: { type: 'string' },
  },
});
const DRILLS: DrillDownSettings[] = values.drills.split(',').map((d) => {
  const [top, share] = d.split(':').map(Number);
  return { top: top!, share: share ?? DEFAULT_DRILL_SHARE };
});
const drillName = (d: DrillDownSettings): string => (d.share ? `${d.top}, share ${d.share}` : `top ${d.top}`);
const backend = createNodeBackend();

/** The deepest level's units a drill-down scored (a unit not refined further has no children there). */
function leaves(units: ExplainedUnit[], depth: number): ExplainedUnit[] {
  if (depth === 0) return units;
  return units.flatMap((u) => (u.children ? leaves(u.children, depth - 1) : []));
}

function best(units: ExplainedUnit[]): ExplainedUnit {
  return units.reduce((a, b) => (b.score > a.score ? b : a));
}

const sameTop = (drill: Explanation, full: Explanation): boolean =>
  best(leaves(drill.units, drill.drillDown!.levels.length - 1)).positions.join() === best(full.units).positions.join();

interface Tally {
  settings: string;
  drill: string;
  cases: number;
  agree: number;
  drillPasses: number;
  fullPasses: number;
  /** mean over documents of drill passes / full passes */
  meanShare: number;
  evidenceTop?: number;
}

const SETTINGS: Array<[string, Partial<ExplainSettings>]> = [
  ['document-QA preset (factor 0, kappa off)', { ...DOCUMENT_QA_SETTINGS, granularity: { kind: 'sentence' } }],
  ['defaults (factor 0.1, kappa 0.7)', { granularity: { kind: 'sentence' } }],
];

async function documentQa(): Promise<Tally[]> {
  const model = await AtmanModel.load(folderSource('public/models/atman-demo-facts'), backend, {});
  const gen = new TaskGenerator(Number(values.seed));
  const docs = Array.from({ length: Number(values.cases) }, () => gen.next());
  const out: Tally[] = [];
  try {
    for (const [name, settings] of SETTINGS) {
      const fulls: Explanation[] = [];
      for (const d of docs) fulls.push(await explain(model, { prompt: d.prompt, target: d.target, settings: { ...settings, granularity: { kind: 'token' } } }));
      for (const drillDown of DRILLS) {
        const t: Tally = { settings: name, drill: drillName(drillDown), cases: docs.length, agree: 0, drillPasses: 0, fullPasses: 0, meanShare: 0, evidenceTop: 0 };
        for (const [i, d] of docs.entries()) {
          const drill = await explain(model, { prompt: d.prompt, target: d.target, settings: { ...settings, drillDown } });
          const full = fulls[i]!;
          if (sameTop(drill, full)) t.agree++;
          if (best(drill.units).label === d.evidence) t.evidenceTop!++;
          t.drillPasses += drill.passes;
          t.fullPasses += full.passes;
          t.meanShare += drill.passes / full.passes / docs.length;
        }
        out.push(t);
      }
    }
  } finally {
    await model.release();
  }
  return out;
}

interface LongRow {
  promptTokens: number;
  sentences: number;
  drill: string;
  drillPasses: number;
  passesPerLevel: number[];
  fullPasses: number;
  drillSeconds: number;
  fullSeconds: number;
  agree: boolean;
}

const LONG_TEXT =
  'The committee met on Tuesday to review the budget. Several members asked about the new library, which had opened in March. ' +
  'The treasurer said the costs were higher than planned because the roof needed repairs. After a long discussion the members agreed ' +
  'to postpone the vote until the next meeting, when the architect could present a revised estimate for the work on the east wing. ';

async function longDocument(): Promise<LongRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'atman-drill-'));
  const rows: LongRow[] = [];
  try {
    writeBenchModel(dir, { vocab: 50257, nLayer: Number(values['long-layers']), nHead: 4, nEmbd: 128, nPositions: 2048 });
    const model = await AtmanModel.load(folderSource(dir), backend, { selfCheck: false });
    try {
      // Whole sentences up to about the asked length.
      const want = Number(values['long-tokens']);
      const sentences = LONG_TEXT.repeat(64).match(/[^.]+\./g)!;
      let prompt = '';
      for (const s of sentences) {
        if (model.tokenizer.encodePrompt(prompt + s).length > want) break;
        prompt += s;
      }
      const target = ' The vote was postponed.';
      const full = await explain(model, { prompt, target, settings: { granularity: { kind: 'token' } } });
      for (const drillDown of DRILLS) {
        const drill = await explain(model, { prompt, target, settings: { granularity: { kind: 'sentence' }, drillDown } });
        rows.push({
          promptTokens: full.tokens.filter((t) => t.role === 'prompt').length,
          sentences: drill.units.length,
          drill: drillName(drillDown),
          drillPasses: drill.passes,
          passesPerLevel: drill.drillDown!.passesPerLevel,
          fullPasses: full.passes,
          drillSeconds: drill.seconds,
          fullSeconds: full.seconds,
          agree: sameTop(drill, full),
        });
      }
    } finally {
      await model.release();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

async function main(): Promise<void> {
  const t0 = performance.now();
  const qa = await documentQa();
  console.log(`(a) document QA: ${qa[0]!.cases} held-out documents of the demo model's fact-lookup task (seed ${values.seed}), atman-demo-facts`);
  console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('settings                                   refined (at most K, share S)  agree with full token top  passes (drill / full)  mean share  evidence sentence ranked first');
  for (const t of qa) {
    console.log(
      `${t.settings.padEnd(43)}${t.drill.padStart(28)}  ${`${t.agree}/${t.cases} (${pct(t.agree / t.cases)})`.padStart(25)}  ${`${t.drillPasses} / ${t.fullPasses} (${pct(t.drillPasses / t.fullPasses)})`.padStart(21)}  ${pct(t.meanShare).padStart(10)}  ${t.evidenceTop}/${t.cases}`,
    );
  }
  const long = await longDocument();
  const l0 = long[0]!;
  console.log(`\n(b) one long document: ${l0.promptTokens} prompt tokens, ${l0.sentences} sentence units; GPT-2-shaped, ${values['long-layers']} layers, hidden 128, random weights, key/value cache`);
  console.log(`full token-level AtMan: ${l0.fullPasses} passes, ${l0.fullSeconds.toFixed(1)} s`);
  for (const r of long) {
    console.log(
      `drill-down ${r.drill}: ${r.drillPasses} passes (${r.passesPerLevel.join(' + ')}) = ${pct(r.drillPasses / r.fullPasses)} of the passes, ${r.drillSeconds.toFixed(2)} s = ${pct(r.drillSeconds / r.fullSeconds)} of the time; same top token: ${r.agree ? 'yes' : 'no'} (random weights: not a measure of agreement)`,
    );
  }
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ documentQa: qa, long }, null, 2)}\n`);
}

await main();
