// The layering of docs/architecture.md, checked on the import lines of every source file, and
// no import circle among src/ files (type-only imports included: a circle of types is still a
// circle a reader has to untangle).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const files = (dir: string): string[] =>
  readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(join(ROOT, p)).isDirectory()) return files(p);
    return /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f) ? [p] : [];
  });

// folder -> import specifiers it must not use (regex on the module path)
const RULES: Record<string, RegExp[]> = {
  'src/graph': [/onnxruntime/, /react/, /\/(runtime|ui|state|protocol|testing)\//],
  // the IR knows nothing of the passes that use it
  'src/graph/ir': [/^\.\.\/(?!\.\.\/)/],
  'src/runtime': [/react/, /\/(ui|state|testing)\//],
  // Inside runtime/ (docs/architecture.md): backends and model facts at the bottom, then where
  // files come from, then the AtMan passes and the image path, the comparison methods on top.
  'src/runtime/backends': [/\.\.\/(model|sources|atman|image|compare)\//, /\.\.\/schema$/],
  'src/runtime/model': [/\.\.\/(atman|image|compare)\//, /\.\.\/schema$/],
  'src/runtime/sources': [/\.\.\/(atman|image|compare)\//, /\.\.\/schema$/],
  'src/runtime/image': [/\.\.\/compare\//],
  'src/runtime/atman': [/\.\.\/compare\//],
  'src/cli': [/react/, /\/(ui|state)\//],
  'src/state': [/onnxruntime/, /\/testing\//],
  // the slices hold the state; reading and writing share links sits on top of them
  'src/state/slices': [/\.\.\/links\//],
  'src/ui': [/onnxruntime/, /\/testing\//],
  workers: [/react/, /\/(ui|state)\//],
};

const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const specifiers = (file: string): string[] => [...readFileSync(join(ROOT, file), 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? m[2]!);

/** The src/ file a relative specifier names, or null (packages, files outside src/). */
function resolveImport(from: string, spec: string, known: ReadonlySet<string>): string | null {
  if (!spec.startsWith('.')) return null;
  const base = join(dirname(from), spec);
  for (const c of [base, `${base}.ts`, `${base}.tsx`, base.replace(/\.js$/, '.ts'), join(base, 'index.ts')]) if (known.has(c)) return c;
  return null;
}

/** One import circle among the files, as the path that closes it, or null. */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string): string[] | null => {
    state.set(f, 'open');
    path.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') return [...path.slice(path.indexOf(g)), g];
      if (!state.has(g)) {
        const found = visit(g);
        if (found) return found;
      }
    }
    path.pop();
    state.set(f, 'done');
    return null;
  };
  for (const f of graph.keys()) {
    if (state.has(f)) continue;
    const found = visit(f);
    if (found) return found;
  }
  return null;
}

describe('import circles', () => {
  it('finds a circle when there is one, and none in a chain', () => {
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', []]]))).toBeNull();
  });

  it('no src/ file imports itself back through others', () => {
    const all = files('src');
    const known = new Set(all);
    const graph = new Map(all.map((f) => [f, specifiers(f).flatMap((s) => resolveImport(f, s, known) ?? [])]));
    expect(findCycle(graph)?.join(' -> ') ?? null).toBeNull();
  });
});

describe('layering', () => {
  for (const [dir, banned] of Object.entries(RULES)) {
    let list: string[] = [];
    try {
      list = files(dir);
    } catch {
      continue;
    }
    it.each(list)(`%s respects the ${dir} rules`, (file) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = m[1] ?? m[2]!;
        for (const b of banned) expect(spec, `${relative(ROOT, file)} imports ${spec}`).not.toMatch(b);
      }
    });
  }

  it.each(files('src/protocol'))('%s imports types only', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+['"]([^'"]+)['"]/gm)) {
      expect(m[1], `${file} has a value import of ${m[1]}`).toMatch(/^comlink$/);
    }
  });
});
