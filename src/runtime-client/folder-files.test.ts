import { describe, expect, it } from 'vitest';
import { normalizeFolderPath, rootModelFolder } from '../runtime/sources/picked-folder';
import { type FileEntryLike, filesFromInput, folderFromEntries, folderFromInput } from './folder-files';

const fileAt = (relPath: string, body = relPath): File => {
  const f = new File([body], relPath.split('/').pop()!);
  Object.defineProperty(f, 'webkitRelativePath', { value: relPath });
  return f;
};
const paths = (xs: Array<{ path: string }>): string[] => xs.map((x) => x.path).sort();

// A dropped folder tree: nested objects are folders, strings are file contents.
type Tree = { [name: string]: string | Tree };
function entry(name: string, node: string | Tree, batch = 2): FileEntryLike {
  if (typeof node === 'string') return { isFile: true, isDirectory: false, name, file: (ok) => ok(new File([node], name)) };
  const children = Object.entries(node).map(([n, c]) => entry(n, c, batch));
  return {
    isFile: false,
    isDirectory: true,
    name,
    createReader() {
      let at = 0;
      // Small batches, like Chromium's 100-entry ones: the walker must keep reading.
      return { readEntries: (ok) => ok(children.slice(at, (at += batch))) };
    },
  };
}

describe('folder paths', () => {
  it('strips the picked folder name from webkitdirectory paths', () => {
    const picked = folderFromInput([fileAt('my-model/config.json'), fileAt('my-model/tokenizer.json'), fileAt('my-model/onnx/model.onnx')]);
    expect(picked.name).toBe('my-model');
    expect(paths(picked.files)).toEqual(['config.json', 'onnx/model.onnx', 'tokenizer.json']);
    expect(filesFromInput([fileAt('m/config.json')]).map((f) => f.path)).toEqual(['config.json']);
  });

  it('re-roots at the model when a parent folder was picked, and leaves several models alone', () => {
    const parent = rootModelFolder([{ path: 'models/gpt2/config.json' }, { path: 'models/gpt2/onnx/model.onnx' }, { path: 'models/README.md' }]);
    expect(parent).toEqual({ name: 'gpt2', files: [{ path: 'config.json' }, { path: 'onnx/model.onnx' }] });
    const two = rootModelFolder([{ path: 'm/a/config.json' }, { path: 'm/b/config.json' }]);
    expect(paths(two.files)).toEqual(['a/config.json', 'b/config.json']);
  });

  it('normalizes slashes and dots, and keeps loose files as they are', () => {
    expect(normalizeFolderPath('\\m\\onnx\\model.onnx')).toBe('m/onnx/model.onnx');
    expect(normalizeFolderPath('./a//b/./c')).toBe('a/b/c');
    expect(rootModelFolder([{ path: 'config.json' }, { path: 'onnx/model.onnx' }])).toEqual({ name: '', files: [{ path: 'config.json' }, { path: 'onnx/model.onnx' }] });
  });

  it('walks a dropped folder through every readEntries batch', async () => {
    const dropped = entry('tiny', {
      'config.json': '{}',
      'tokenizer.json': '{}',
      'tokenizer_config.json': '{}',
      onnx: { 'model.onnx': 'x', 'model_q4.onnx': 'y', 'model_fp16.onnx': 'z' },
    });
    const picked = await folderFromEntries([dropped]);
    expect(picked.name).toBe('tiny');
    expect(paths(picked.files)).toEqual(['config.json', 'onnx/model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_q4.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    expect(await picked.files.find((f) => f.path === 'onnx/model_q4.onnx')!.file.text()).toBe('y');
  });
});
