// Downloaded files checked against the hash their publisher gives, before anything keeps or reads
// them: a transfer that changed bytes (a proxy, a cut connection that still ended "successfully",
// a disk or cache fault) then fails in words naming the file instead of running a model whose
// weights are silently wrong. The hub gives a SHA-256 for every LFS file (the tree listing's
// `lfs.oid`, or the `X-Linked-Etag` of a resolve answer) and a git blob id for small files (`oid`);
// the app's own bundled models carry a manifest written when they are built (sha256.json).
import { AtmanError } from '../../core/errors';
import type { ModelSource } from './model-source';

/** What a file's bytes should hash to: a SHA-256, or a git blob id (SHA-1 of "blob <size>\0" + bytes). */
export type KnownHash = { sha256: string } | { gitBlob: string };

/** The name of a bundled model's manifest: `{ "sha256": { "<path>": "<hex>" } }` over every other file of the folder. */
export const MANIFEST_FILE = 'sha256.json';

/** The files of a bundled model folder its manifest lists: what a load reads, not the page's examples. */
export const manifestCovers = (path: string): boolean => path !== MANIFEST_FILE && !/(^|\/)README\.md$/i.test(path) && path !== 'examples.json' && !path.startsWith('examples/');

const hex = (buf: ArrayBuffer): string => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/** git's object id of a file's contents, as the hub lists non-LFS files. */
export async function gitBlobId(bytes: Uint8Array): Promise<string> {
  const head = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(head.length + bytes.length);
  all.set(head);
  all.set(bytes, head.length);
  return hex(await crypto.subtle.digest('SHA-1', all));
}

/** A SHA-256 an ETag-like header carries (`"…"`, `W/"…"`, or bare); null when it holds something else (a git id, an S3 etag). */
export function sha256FromEtag(value: string | null): string | null {
  const v = value?.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase() ?? '';
  return /^[0-9a-f]{64}$/.test(v) ? v : null;
}

/**
 * Whether this context can hash at all. Browsers give SubtleCrypto only to secure contexts (https,
 * localhost): a class's page served over plain http from a LAN address has none. Such a page
 * reads its models unchecked rather than not at all: the app's own code reaches it over the same
 * unprotected connection, so a check there would add no protection against a changed file, and
 * the page's backend badge already says the page is not a secure context.
 */
export const canCheckHashes = (): boolean => typeof globalThis.crypto?.subtle?.digest === 'function';

/** Throws DOWNLOAD_CORRUPTED when the bytes do not hash to what the publisher said; no check where the context cannot hash (canCheckHashes). */
export async function checkHash(bytes: Uint8Array, known: KnownHash, file: string, modelId: string, publisher: string): Promise<void> {
  if (!canCheckHashes()) return;
  const [kind, want, got] =
    'sha256' in known ? ['SHA-256', known.sha256.toLowerCase(), await sha256Hex(bytes)] : ['git blob id', known.gitBlob.toLowerCase(), await gitBlobId(bytes)];
  if (got === want) return;
  throw new AtmanError(
    'DOWNLOAD_CORRUPTED',
    `${file} of ${modelId} arrived damaged: its ${kind} is ${got.slice(0, 12)}…, but ${publisher} says ${want.slice(0, 12)}… (${bytes.length} bytes received). It was not kept; load the model again to download it afresh, and if this repeats, a proxy or filter on this network is changing the file.`,
    { file, expected: want, actual: got },
  );
}

/**
 * A source whose files are checked against the manifest it carries (a bundled model's
 * sha256.json), read once on the first file read. Without a manifest nothing is checked; a file
 * the manifest does not name is not checked either.
 */
export function withManifest(inner: ModelSource, manifest = MANIFEST_FILE): ModelSource {
  let hashes: Promise<Map<string, string>> | null = null;
  const load = async (): Promise<Map<string, string>> => {
    if (!(await inner.has(manifest))) return new Map();
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(await inner.read(manifest)));
    } catch {
      throw new AtmanError('DOWNLOAD_CORRUPTED', `The file list ${manifest} of ${inner.id} arrived damaged (not JSON); load the model again.`);
    }
    const table = (parsed as { sha256?: unknown } | null)?.sha256;
    const out = new Map<string, string>();
    if (table && typeof table === 'object') for (const [k, v] of Object.entries(table)) if (typeof v === 'string' && /^[0-9a-f]{64}$/i.test(v)) out.set(k, v);
    return out;
  };
  return {
    ...inner,
    async read(path, onProgress) {
      const pending = (hashes ??= load());
      pending.catch(() => {
        if (hashes === pending) hashes = null;
      });
      const known = (await pending).get(path);
      const bytes = await inner.read(path, onProgress);
      if (known) await checkHash(bytes, { sha256: known }, path, inner.id, `its manifest (${manifest})`);
      return bytes;
    },
  };
}
