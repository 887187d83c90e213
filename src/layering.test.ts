// The layering of design.md, checked on the import lines of every source file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
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
  'src/graph': [/onnxruntime/, /react/, /\/(runtime|ui|state|protocol)\//],
  'src/runtime': [/react/, /\/(ui|state)\//],
  'src/state': [/onnxruntime/],
  'src/ui': [/onnxruntime/],
  workers: [/react/, /\/(ui|state)\//],
};

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
