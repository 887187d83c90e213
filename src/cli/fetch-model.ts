// `npm run fetch-model -- <owner/name> [--dtype auto|q4|…] [--out workshop-models]`: copies one
// variant of a hub model into a local folder in the hub layout (<out>/<owner>/<name>/config.json,
// onnx/model_q4.onnx, …), once, before a class. `npm run workshop` then serves that folder from
// the teacher's machine, so thirty students do not each download the model over venue Wi-Fi.
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { AtmanError } from '../core/errors';
import { parseDtypeRequest } from '../runtime/model/dtypes';
import { type BackendCaps, chooseVariant, formatSize } from '../runtime/sources/dtype-choice';
import { hubSource } from '../runtime/sources/hub-source';
import { listModel } from '../runtime/sources/model-files';
import { isHubId } from '../runtime/sources/model-source';
import { externalDataFiles } from '../runtime/sources/repo-files';
import { runWhenMain } from './load-model';

export const DEFAULT_WORKSHOP_DIR = 'workshop-models';

// The students' browsers: auto picks what WebGPU without shader-f16 (and WASM) runs, 4-bit first.
const BROWSER: BackendCaps = { name: 'webgpu', supportsFp16: false };

/** Files beside the graphs that the engine or the tokenizer may read: small, at the repository's root. */
const isSideFile = (path: string): boolean => !path.includes('/') && /\.(json|txt|jinja)$/i.test(path);

export interface FetchOptions {
  repo: string;
  dtype?: string;
  out?: string;
  revision?: string;
  /** the hub's origin; default $HF_ENDPOINT, else https://huggingface.co */
  endpoint?: string;
  log?: (line: string) => void;
}

export interface FetchResult {
  dir: string;
  dtype: string;
  files: Array<{ path: string; bytes: number; skipped: boolean }>;
}

export async function fetchModel(opts: FetchOptions): Promise<FetchResult> {
  if (!isHubId(opts.repo)) throw new AtmanError('BAD_SETTING', `"${opts.repo}" is not a Hugging Face model id (expected owner/name).`);
  const log = opts.log ?? (() => {});
  const endpoint = opts.endpoint ?? process.env.HF_ENDPOINT;
  const source = hubSource(opts.repo, { ...(endpoint ? { endpoint } : {}), ...(opts.revision ? { revision: opts.revision } : {}) });
  const listing = await listModel(source);
  if (listing.missing.length) throw new AtmanError('MODEL_FILES_MISSING', `${opts.repo} is missing ${listing.missing.join(', ')}; it cannot be explained, so it is not fetched.`);
  const choice = chooseVariant(opts.repo, listing.files, listing.bases, BROWSER, parseDtypeRequest(opts.dtype ?? 'auto'));
  log(`${opts.repo}: ${choice.reason}`);
  const wanted = [
    ...listing.files.filter((f) => isSideFile(f.path)),
    ...choice.files.flatMap((p) => [listing.files.find((f) => f.path === p)!, ...externalDataFiles(listing.files, p)]),
  ];
  const dir = join(opts.out ?? DEFAULT_WORKSHOP_DIR, ...opts.repo.split('/'));
  const files: FetchResult['files'] = [];
  for (const f of wanted) {
    const target = join(dir, ...f.path.split('/'));
    const have = await stat(target).catch(() => null);
    // A file already there with the size the hub lists was fetched before: a rerun resumes.
    if (have?.isFile() && f.size !== null && have.size === f.size) {
      files.push({ path: f.path, bytes: have.size, skipped: true });
      log(`  ${f.path}: already here (${formatSize(have.size)})`);
      continue;
    }
    const bytes = await listing.source.read(f.path);
    await writeAtomically(target, bytes);
    files.push({ path: f.path, bytes: bytes.length, skipped: false });
    log(`  ${f.path}: ${formatSize(bytes.length)}`);
  }
  return { dir, dtype: choice.dtype, files };
}

/** Written beside the target and renamed, so an interrupted fetch never leaves a short file under the real name. */
async function writeAtomically(target: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const part = `${target}.part`;
  try {
    await new Promise<void>((resolve, reject) => {
      const s = createWriteStream(part);
      s.on('error', reject);
      s.end(bytes, () => resolve());
    });
    await rename(part, target);
  } catch (e) {
    await rm(part, { force: true });
    throw e;
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dtype: { type: 'string' },
      out: { type: 'string' },
      revision: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length !== 1) {
    process.stdout.write(
      'usage: npm run fetch-model -- <owner/name> [--dtype auto|fp32|q8|q4|fp16|q4f16] [--out workshop-models] [--revision main]\n' +
        'Copies one variant of a hub model into <out>/<owner>/<name>/ for `npm run workshop` to serve.\n',
    );
    return values.help ? 0 : 2;
  }
  const r = await fetchModel({
    repo: positionals[0]!,
    ...(values.dtype ? { dtype: values.dtype } : {}),
    ...(values.out ? { out: values.out } : {}),
    ...(values.revision ? { revision: values.revision } : {}),
    log: (l) => process.stdout.write(`${l}\n`),
  });
  const total = r.files.reduce((a, f) => a + f.bytes, 0);
  process.stdout.write(`Fetched ${r.dtype} into ${r.dir} (${formatSize(total)}). Serve it with: npm run workshop\n`);
  return 0;
}

runWhenMain(import.meta.url, 'fetch-model.ts', main);
