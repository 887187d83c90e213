// A model folder on disk (Node only).
import { access, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AtmanError } from '../../core/errors';
import type { ModelSource } from '../model-source';

export function folderSource(dir: string): ModelSource & { dir: string } {
  const root = resolve(dir);
  return {
    id: dir,
    dir: root,
    localPath: (path) => join(root, path),
    async has(path) {
      try {
        await access(join(root, path));
        return true;
      } catch {
        return false;
      }
    },
    async read(path) {
      try {
        return new Uint8Array(await readFile(join(root, path)));
      } catch {
        throw new AtmanError('MODEL_FILES_MISSING', `The model folder ${dir} has no ${path}.`);
      }
    },
  };
}
