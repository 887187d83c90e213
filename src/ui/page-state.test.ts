import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE, STORAGE_KEY, readState, writeState } from './page-state';
import { sourceFor } from './model-choices';

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m };
};

describe('page state', () => {
  it('round-trips through storage', () => {
    const s = memory();
    const state = { ...DEFAULT_STATE, prompt: 'p', target: ' t', backend: 'wasm' as const, mode: 'log-additive' as const, model: 'tiny-llama' };
    writeState(s, state);
    expect(readState(s)).toEqual(state);
  });

  it('falls back to defaults field by field', () => {
    const s = memory();
    expect(readState(null)).toEqual(DEFAULT_STATE);
    s.setItem(STORAGE_KEY, '{not json');
    expect(readState(s)).toEqual(DEFAULT_STATE);
    s.setItem(STORAGE_KEY, JSON.stringify({ backend: 'cuda', mode: 7, prompt: 'kept' }));
    expect(readState(s)).toEqual({ ...DEFAULT_STATE, prompt: 'kept' });
  });
});

describe('model choices', () => {
  const origin = 'http://127.0.0.1:4173';
  it('maps fixtures, hub ids and URLs to sources', () => {
    expect(sourceFor('tiny-gpt2', '', origin)).toEqual({ kind: 'url', baseUrl: `${origin}/fixtures/models/tiny-gpt2/`, id: 'tiny-gpt2' });
    expect(sourceFor('custom', ' onnx-community/gpt2 ', origin)).toEqual({ kind: 'hub', repo: 'onnx-community/gpt2' });
    expect(sourceFor('custom', '/fixtures/models/nope', origin)).toEqual({ kind: 'url', baseUrl: `${origin}/fixtures/models/nope`, id: '/fixtures/models/nope' });
    expect(sourceFor('custom', 'https://example.org/m/', origin)).toMatchObject({ kind: 'url', baseUrl: 'https://example.org/m/' });
  });
});
