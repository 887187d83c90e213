// Writes sha256.json into each model folder given: the SHA-256 of every file a load reads (all but
// the manifest, READMEs and the example prompts and pictures, which the page reads on its own), which
// the app checks its bundled models' downloads against (src/runtime/sources/file-hashes.ts).
// Usage: npx tsx scripts/model-manifest.ts public/models/atman-demo-facts [...]
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE, manifestCovers } from '../src/runtime/sources/file-hashes';

function filesOf(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix)).flatMap((n) => (statSync(join(dir, prefix, n)).isDirectory() ? filesOf(dir, `${prefix}${n}/`) : [`${prefix}${n}`]));
}

for (const dir of process.argv.slice(2)) {
  const sha256: Record<string, string> = {};
  for (const f of filesOf(dir).filter(manifestCovers).sort()) sha256[f] = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  writeFileSync(join(dir, MANIFEST_FILE), `${JSON.stringify({ sha256 }, null, 2)}\n`);
  console.log(`${join(dir, MANIFEST_FILE)}: ${Object.keys(sha256).length} files`);
}
