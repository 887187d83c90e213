import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as core from './index';

// The core runs in the browser, in the worker and in Node: it may import only itself.
describe('src/core layering', () => {
  const dir = new URL('.', import.meta.url).pathname;
  const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

  it.each(sources)('%s imports only from src/core and touches no DOM', (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/g)) {
      expect(m[1], `${file} imports ${m[1]}`).toMatch(/^\.\/[\w-]+$/);
    }
    expect(text).not.toMatch(/\b(document|window|navigator)\./);
  });

  it('re-exports the public API from index', () => {
    for (const name of [
      'buildUnits', 'unitFactors', 'cosineSimilarityMatrix', 'draggedAlong', 'crossEntropyAtTargets',
      'relevanceMatrix', 'aggregate', 'minMaxNormalise', 'validateSettings', 'validateTexts',
      'parseGranularity', 'groupByStart', 'factorsForBatch', 'planBatch', 'estimatePassMemory', 'parseByteSize', 'AtmanError', 'DEFAULT_SETTINGS',
    ]) expect(core, name).toHaveProperty(name);
  });
});
