// The synthetic fact-lookup task of the demo model: a few fact sentences about different people,
// then a question about one of them. train.py implements the same generator over the same
// mulberry32 stream (scripts/fixtures/prng.ts), so one seed gives the same documents in both.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng } from '../fixtures/prng';

export interface TaskKind {
  kind: string;
  fact: string;
  question: string;
  values: string[];
}

export interface Task {
  names: string[];
  kinds: TaskKind[];
  minFacts: number;
  maxFacts: number;
  sameKindProbability: number;
}

export interface FactDocument {
  /** fact sentences joined by spaces, then the question */
  prompt: string;
  /** the answer with its leading space, e.g. " Rome" */
  target: string;
  /** the fact sentence that holds the answer */
  evidence: string;
  evidenceIndex: number;
  facts: string[];
  question: string;
}

export const HERE = dirname(fileURLToPath(import.meta.url));
export const TASK: Task = JSON.parse(readFileSync(join(HERE, 'task.json'), 'utf8')) as Task;

const fill = (template: string, name: string, value = ''): string => template.replace('{name}', name).replace('{value}', value);

/** Every word of the task (with and without its leading space where it can start a document), punctuation included. */
export function taskWords(task: Task = TASK): string[] {
  const words = new Set<string>();
  const addText = (text: string) => {
    for (const m of text.matchAll(/ ?[A-Za-z]+|[.?]/g)) words.add(m[0]);
  };
  for (const name of task.names) {
    words.add(name);
    words.add(' ' + name);
  }
  for (const k of task.kinds) {
    addText(fill(k.fact, 'X', 'Y').replace(/^X/, ''));
    addText(' ' + fill(k.question, 'X').replace(/ X\b/, ''));
    for (const v of k.values) words.add(' ' + v);
  }
  words.delete('X');
  words.delete(' X');
  words.delete(' Y');
  return [...words];
}

/** Draws documents from one mulberry32 stream. */
export class TaskGenerator {
  private readonly rng: Prng;
  constructor(
    seed: number,
    private readonly task: Task = TASK,
  ) {
    this.rng = new Prng(seed);
  }

  next(): FactDocument {
    const t = this.task;
    const nFacts = t.minFacts + this.rng.int(t.maxFacts - t.minFacts + 1);
    const names = this.rng.sample(t.names, nFacts);
    let kinds: number[];
    if (this.rng.next() < t.sameKindProbability) {
      const k = this.rng.int(t.kinds.length);
      kinds = names.map(() => k);
    } else {
      kinds = names.map(() => this.rng.int(t.kinds.length));
    }
    const pools = t.kinds.map((k, i) => {
      const count = kinds.filter((x) => x === i).length;
      return count > 0 ? this.rng.sample(k.values, count) : [];
    });
    const values = kinds.map((k) => pools[k]!.shift()!);
    const q = this.rng.int(nFacts);
    const facts = names.map((n, i) => fill(t.kinds[kinds[i]!]!.fact, n, values[i]));
    const question = fill(t.kinds[kinds[q]!]!.question, names[q]!);
    return {
      prompt: [...facts, question].join(' '),
      target: ' ' + values[q]!,
      evidence: facts[q]!,
      evidenceIndex: q,
      facts,
      question,
    };
  }
}
