// Which models the app offers and where each one's files live. Plain data, shared by the
// picker, the share codec (to validate ids) and the load action.
import type { ModelDtype, ModelSourceSpec } from '../protocol/engine-api';
import { HUB_LINK_HOSTS, type Place, pageOrigin, resolveAddress } from './link-targets';

export { DTYPES } from '../runtime/model/dtypes';

export type ModelChoice =
  /** shipped with the app under public/models/<id>/ */
  | { kind: 'bundled'; id: string }
  /** random-weight test models, served only by the dev/test server at /fixtures/models/<id>/ */
  | { kind: 'fixture'; id: string }
  | { kind: 'hub'; repo: string; dtype?: ModelDtype }
  /** a base URL (absolute, or a path on this site) holding the hub layout */
  | { kind: 'url'; url: string }
  /** a folder the user picked or dropped; its files live only in this page's memory */
  | { kind: 'folder'; name: string };

export interface BundledModel {
  id: string;
  label: string;
  description: string;
}

export const BUNDLED_MODELS: readonly BundledModel[] = [
  {
    id: 'atman-demo-facts',
    label: 'AtMan demo: facts (bundled, trained)',
    description: 'A small GPT trained on short fact documents followed by a question; AtMan should point at the sentence that answers it.',
  },
  {
    id: 'atman-demo-shapes',
    label: 'AtMan demo: shapes (bundled, trained, reads a picture)',
    description: 'A tiny vision-language model (Idefics3 layout) trained on pictures of coloured shapes and a question about one of them; AtMan should point at that shape.',
  },
];

export const FIXTURE_MODELS: readonly BundledModel[] = [
  { id: 'tiny-gpt2', label: 'tiny-gpt2', description: 'GPT-2 layout, random weights' },
  { id: 'tiny-gpt2-kv', label: 'tiny-gpt2-kv', description: 'GPT-2 layout with a key/value cache (prefix reuse), random weights' },
  { id: 'tiny-llama', label: 'tiny-llama', description: 'Llama layout, random weights' },
  { id: 'tiny-llama-gqa', label: 'tiny-llama-gqa', description: 'fused GroupQueryAttention (rewritten as standard ops at load: both modes)' },
  { id: 'tiny-qwen2-builder', label: 'tiny-qwen2-builder', description: 'the onnxruntime-genai builder layout: fused GroupQueryAttention with rotary inside, packed QKV, q4 variant' },
  { id: 'tiny-idefics3', label: 'tiny-idefics3', description: 'Idefics3 vision-language layout (image tokens in the prompt, split into tiles), random weights' },
  { id: 'tiny-vit-gpt2', label: 'tiny-vit-gpt2', description: 'ViT + GPT-2 captioner (the decoder cross-attends to the image), random weights' },
];

export interface CuratedModel {
  repo: string;
  label: string;
  dtype: ModelDtype;
  /** approximate download size in bytes */
  approxBytes: number;
  note: string;
}

/**
 * Real hub models whose layout the fixtures cover (see the README's model table), each with the
 * variant it loads. Sizes are approximate. They are not downloaded in tests (no hub access there);
 * their structures are: decomposed attention (tiny-gpt2), 8-bit activations (the q8 fixtures),
 * fused GroupQueryAttention with rotary inside and 4-bit embeddings (tiny-qwen2-builder), chat
 * templates (tiny-llama-instruct).
 */
export const CURATED_MODELS: readonly CuratedModel[] = [
  {
    repo: 'Xenova/gpt2',
    label: 'GPT-2 small (8-bit)',
    dtype: 'q8',
    approxBytes: 130e6,
    note: 'decomposed attention, both modes; 8-bit activations tie rows together, so passes run one at a time (exact, slower)',
  },
  { repo: 'Xenova/gpt2', label: 'GPT-2 small (fp32)', dtype: 'fp32', approxBytes: 500e6, note: 'decomposed attention: both modes, batched' },
  {
    repo: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    label: 'SmolLM2 135M Instruct (4-bit)',
    dtype: 'q4',
    approxBytes: 200e6,
    note: 'instruct: explained inside its chat template; both modes',
  },
  {
    repo: 'onnx-community/Qwen2.5-0.5B-Instruct',
    label: 'Qwen2.5 0.5B Instruct (4-bit)',
    dtype: 'q4',
    approxBytes: 786e6,
    note: 'instruct: explained inside its chat template; both modes',
  },
  {
    repo: 'onnx-community/gemma-3-1b-it-ONNX',
    label: 'Gemma 3 1B Instruct (4-bit, onnxruntime-genai build)',
    dtype: 'q4',
    approxBytes: 650e6,
    note: 'fused GroupQueryAttention (rotary inside, sliding window) rewritten as standard ops at load; 4-bit embedding table; chat template; both modes',
  },
];

export const DEFAULT_MODEL: ModelChoice = { kind: 'bundled', id: 'atman-demo-facts' };

/** A download this big (or of unknown size) is confirmed by the user when a link asks for it. */
export const LARGE_DOWNLOAD_BYTES = 50e6;

export const isBundled = (id: string): boolean => BUNDLED_MODELS.some((m) => m.id === id);
export const isFixture = (id: string): boolean => FIXTURE_MODELS.some((m) => m.id === id);

/** owner/name as the hub spells it; no path tricks */
export const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

export function curatedFor(repo: string, dtype?: ModelDtype): CuratedModel | undefined {
  return CURATED_MODELS.find((m) => m.repo === repo && (dtype === undefined || m.dtype === dtype));
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return 'unknown size';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Where a choice's files are downloaded from, as the consent question shows it; null for local models. */
export interface DownloadSite {
  place: Place;
  /** host[:port] after URL resolution: what the browser will really contact */
  host: string;
  /** the full resolved address */
  href: string;
}

export function downloadSite(c: ModelChoice, origin: string = pageOrigin()): DownloadSite | null {
  if (c.kind === 'hub') return { place: 'hub', host: HUB_LINK_HOSTS[0]!, href: `https://${HUB_LINK_HOSTS[0]}/${c.repo}` };
  if (c.kind !== 'url') return null;
  // An address that does not resolve (typed by hand) is treated as the farthest away.
  return resolveAddress(c.url, origin) ?? { place: 'outside', host: c.url.slice(0, 80), href: c.url };
}

/** The download a choice needs, in words: "~786 MB", "unknown size", or null when nothing is downloaded from outside. */
export function downloadSizeLabel(c: ModelChoice, origin: string = pageOrigin()): string | null {
  if (c.kind === 'hub') {
    const known = curatedFor(c.repo, c.dtype);
    return known ? `~${formatBytes(known.approxBytes)}` : 'unknown size';
  }
  if (c.kind === 'url' && downloadSite(c, origin)?.place !== 'this-site') return 'unknown size';
  return null;
}

/**
 * Whether opening a link with this model should ask before downloading: always for an address
 * that is not on this app's origin (decided after URL resolution), and for hub models of unknown
 * or large size.
 */
export function needsDownloadConsent(c: ModelChoice, origin: string = pageOrigin()): boolean {
  if (c.kind === 'url') return downloadSite(c, origin)?.place !== 'this-site';
  if (c.kind !== 'hub') return false;
  const known = curatedFor(c.repo, c.dtype);
  return !known || known.approxBytes >= LARGE_DOWNLOAD_BYTES;
}

export function modelLabel(c: ModelChoice): string {
  switch (c.kind) {
    case 'bundled':
      return BUNDLED_MODELS.find((m) => m.id === c.id)?.label ?? c.id;
    case 'fixture':
      return `${c.id} (test model, random weights)`;
    case 'hub':
      return `${c.repo}${c.dtype ? ` (${c.dtype})` : ''}`;
    case 'url':
      return c.url;
    case 'folder':
      return `folder ${c.name}`;
  }
}

/** Identity of a choice: two choices with the same key load the same files. */
export const modelKey = (c: ModelChoice): string => JSON.stringify(c);

export function sourceFor(c: ModelChoice, origin: string, files?: Array<{ path: string; file: Blob }>): ModelSourceSpec {
  switch (c.kind) {
    case 'bundled':
      return { kind: 'url', baseUrl: new URL(`/models/${c.id}/`, origin).href, id: c.id };
    case 'fixture':
      return { kind: 'url', baseUrl: new URL(`/fixtures/models/${c.id}/`, origin).href, id: c.id };
    case 'hub':
      return { kind: 'hub', repo: c.repo };
    case 'url':
      return { kind: 'url', baseUrl: new URL(c.url, origin).href, id: c.url };
    case 'folder':
      return { kind: 'files', id: c.name, files: files ?? [] };
  }
}

/** Reads the text box: a hub id (owner/name) or a base URL (http(s):// or a path on this site). */
export function choiceFromText(text: string): ModelChoice {
  const t = text.trim();
  if (/^(https?:\/\/|\/|\.\.?\/)/i.test(t)) return { kind: 'url', url: t };
  return { kind: 'hub', repo: t };
}
