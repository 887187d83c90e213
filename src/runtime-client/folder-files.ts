// Page side of "open a model folder": turns what <input type=file webkitdirectory> or a folder
// drop hands over into paths relative to the model folder ("config.json", "onnx/model.onnx"),
// ready for a { kind: 'files' } source. Blobs cross to the worker by reference, not by copy.
import { rootModelFolder } from '../runtime/sources/picked-folder';

export interface FolderFile {
  path: string;
  file: File;
}

export interface PickedFolder {
  /** the folder's own name (the stripped top folder), '' when the files came loose */
  name: string;
  files: FolderFile[];
}

/** From a webkitdirectory input: paths come as "my-model/onnx/model.onnx". */
export function folderFromInput(fileList: FileList | readonly File[]): PickedFolder {
  return rootModelFolder(Array.from(fileList, (file) => ({ path: file.webkitRelativePath || file.name, file })));
}

export const filesFromInput = (fileList: FileList | readonly File[]): FolderFile[] => folderFromInput(fileList).files;

// The entry API's shapes, structurally, so tests can pass fakes (and it reads as what is used).
export interface FileEntryLike {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  file?(ok: (f: File) => void, fail?: (e: unknown) => void): void;
  createReader?(): { readEntries(ok: (entries: FileEntryLike[]) => void, fail?: (e: unknown) => void): void };
}

/** Walks dropped entries; a dropped folder's files get paths under its name. */
export async function folderFromEntries(entries: readonly FileEntryLike[]): Promise<PickedFolder> {
  const out: FolderFile[] = [];
  const walk = async (entry: FileEntryLike, prefix: string): Promise<void> => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isFile && entry.file) {
      out.push({ path, file: await new Promise<File>((ok, fail) => entry.file!(ok, fail)) });
    } else if (entry.isDirectory && entry.createReader) {
      const reader = entry.createReader();
      // readEntries hands out a directory in batches (100 in Chromium) until an empty one.
      for (;;) {
        const batch = await new Promise<FileEntryLike[]>((ok, fail) => reader.readEntries(ok, fail));
        if (!batch.length) break;
        for (const child of batch) await walk(child, path);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return rootModelFolder(out);
}

/**
 * From a drop event's dataTransfer.items. Call it inside the drop handler: the entries must be
 * taken before the handler returns (the list is emptied afterwards), which this does first.
 */
export async function folderFromDrop(items: DataTransferItemList): Promise<PickedFolder> {
  const entries: FileEntryLike[] = [];
  for (const item of Array.from(items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.() as FileEntryLike | null | undefined;
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) entries.push({ isFile: true, isDirectory: false, name: f.name, file: (ok) => ok(f) });
    }
  }
  return folderFromEntries(entries);
}

