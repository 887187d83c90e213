// One method on one prompt in a fresh process, so its peak memory is its own (bench.ts, gradient
// section): prints one JSON line with the run's seconds, the resident set after loading the model,
// and the peak from then on (the method's session and its run; memory arenas are not given back, so
// a peak reached while making a session counts).
// usage: tsx scripts/bench-gradient-run.ts <model dir> <method> <prompt tokens> <target tokens> [steps]
import { AtmanModel } from '../src/runtime/atman/atman-model';
import { explain } from '../src/runtime/atman/explain';
import { createNodeBackend } from '../src/runtime/backends/node-backend';
import { explainComparison } from '../src/runtime/compare/comparison-methods';
import type { ComparisonMethod } from '../src/runtime/schema';
import { folderSource } from '../src/runtime/sources/folder-source';
import { BENCH_TARGET, BENCH_TEXT } from './bench-common';

const [dir, method, promptTokens, targetTokens, steps] = process.argv.slice(2) as [string, string, string, string, string?];
const model = await AtmanModel.load(folderSource(dir), createNodeBackend(), { selfCheck: false });
const long = BENCH_TEXT.repeat(8);
const prompt = long.slice(0, model.tokenizer.encodePrompt(long)[Number(promptTokens) - 1]!.end);
const target = BENCH_TARGET.slice(0, model.tokenizer.encodeTarget(BENCH_TARGET)[Number(targetTokens) - 1]!.end);
const settings = { kappa: null };
// The loaded model (with AtMan's session) is the baseline. onnxruntime-node runs sessions off the main
// thread, so a timer can watch the resident set from here on: the method's own session (made on first
// use: the gradient graphs are sessions of their own) and its run count, as a user meets them.
const rssAfterLoad = process.memoryUsage().rss;
let peakRss = rssAfterLoad;
const watch = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
// A short warm-up makes the method's session, so the timing below is the run's alone.
const warm = { prompt: prompt.slice(0, 12), target, settings, ...(steps ? { steps: 1 } : {}) };
if (method === 'atman') await explain(model, warm);
else await explainComparison(model, { ...warm, method: method as ComparisonMethod });
const t = performance.now();
const x = method === 'atman' ? await explain(model, { prompt, target, settings }) : await explainComparison(model, { prompt, target, settings, method: method as ComparisonMethod, ...(steps ? { steps: Number(steps) } : {}) });
const seconds = (performance.now() - t) / 1000;
clearInterval(watch);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
console.log(JSON.stringify({ method, seconds, passes: x.passes, batchSize: x.batchSize, rssAfterLoad, peakRss, completeness: x.run.completeness ?? null }));
await model.release();
