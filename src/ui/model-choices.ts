// The models the page offers: the committed test fixtures, or any hub id / base URL.
import type { ModelSourceSpec } from '../protocol/engine-api';

export const FIXTURE_MODELS = [
  { name: 'tiny-gpt2', label: 'tiny-gpt2 (test model, random weights)' },
  { name: 'tiny-llama', label: 'tiny-llama (test model, random weights)' },
  { name: 'tiny-llama-gqa', label: 'tiny-llama-gqa (test model, random weights, fused attention)' },
] as const;

export const FIXTURE_BASE = '/fixtures/models/';
export const CUSTOM = 'custom';

/** A fixture name, or for 'custom': a hub id ("owner/name") or a base URL ("/path/", "https://..."). */
export function sourceFor(choice: string, custom: string, origin: string): ModelSourceSpec {
  if (choice !== CUSTOM) return { kind: 'url', baseUrl: new URL(`${FIXTURE_BASE}${choice}/`, origin).href, id: choice };
  const text = custom.trim();
  if (/^(https?:\/\/|\/|\.\.?\/)/.test(text)) return { kind: 'url', baseUrl: new URL(text, origin).href, id: text };
  return { kind: 'hub', repo: text };
}
