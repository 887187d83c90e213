// A model folder on disk (Node only).
import { access, open, readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AtmanError } from '../../core/errors';
import type { ModelSource } from './model-source';
import type { RepoFile } from './repo-files';

export function folderSource(dir: string): ModelSource & { dir: string } {
  const root = resolve(dir);
  return {
    id: dir,
    dir: root,
    rereadable: true,
    localPath: (path) => join(root, path),
    async has(path) {
      try {
        await access(join(root, path));
        return true;
      } catch {
        return false;
      }
    },
    async list() {
      try {
        return await walk(root, '');
      } catch {
        throw new AtmanError('MODEL_FILES_MISSING', `The model folder ${dir} cannot be read (it does not exist, or is not a folder).`);
      }
    },
    async sizeOf(path) {
      const s = await stat(join(root, path)).catch(() => null);
      if (!s?.isFile()) throw new AtmanError('MODEL_FILES_MISSING', `The model folder ${dir} has no ${path}.`);
      return s.size;
    },
    async readRange(path, offset, length) {
      const f = await open(join(root, path)).catch(() => {
        throw new AtmanError('MODEL_FILES_MISSING', `The model folder ${dir} has no ${path}.`);
      });
      try {
        const out = new Uint8Array(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await f.read(out, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        if (got < length) throw new AtmanError('MODEL_INVALID', `${path} in ${dir} ends at byte ${offset + got}, before the ${length} bytes at ${offset} that the graph points to.`);
        return out;
      } finally {
        await f.close();
      }
    },
    async read(path) {
      try {
        // A view of the buffer read, not a copy: a model file is read once, at its full size.
        const b = await readFile(join(root, path));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch {
        throw new AtmanError('MODEL_FILES_MISSING', `The model folder ${dir} has no ${path}.`);
      }
    },
  };
}

// Hidden entries (.git, .cache) are never model files and can be huge.
async function walk(root: string, prefix: string): Promise<RepoFile[]> {
  const out: RepoFile[] = [];
  for (const e of await readdir(join(root, prefix), { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(root, path)));
    else if (e.isFile() || e.isSymbolicLink()) {
      const s = await stat(join(root, path)).catch(() => null);
      if (s?.isFile()) out.push({ path, size: s.size });
    }
  }
  return out;
}
