// What the page remembers across reloads (localStorage): the texts and the choices.
// Every field is validated on read; anything unreadable falls back to its default.
import type { BackendChoice, ControlMode } from '../protocol/engine-api';

export interface PageState {
  /** a fixture name, or 'custom' for the hub id / URL box */
  model: string;
  custom: string;
  backend: BackendChoice;
  mode: ControlMode;
  prompt: string;
  target: string;
}

export const DEFAULT_STATE: PageState = {
  model: 'tiny-gpt2',
  custom: '',
  backend: 'auto',
  mode: 'multiplicative',
  prompt: 'The cat sat on the mat. The dog ran to the cat.',
  target: ' The cat',
};

export const STORAGE_KEY = 'atman.page.v1';

type StorageLike = Pick<Storage, 'getItem' | 'setItem'>;

const oneOf = <T extends string>(v: unknown, allowed: readonly T[], d: T): T => (allowed.includes(v as T) ? (v as T) : d);
const str = (v: unknown, d: string): string => (typeof v === 'string' ? v : d);

export function readState(storage: StorageLike | null): PageState {
  let raw: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(storage?.getItem(STORAGE_KEY) ?? '{}');
    if (parsed && typeof parsed === 'object') raw = parsed as Record<string, unknown>;
  } catch {
    // corrupt entry: defaults
  }
  const d = DEFAULT_STATE;
  return {
    model: str(raw.model, d.model),
    custom: str(raw.custom, d.custom),
    backend: oneOf(raw.backend, ['auto', 'webgpu', 'wasm'] as const, d.backend),
    mode: oneOf(raw.mode, ['multiplicative', 'log-additive'] as const, d.mode),
    prompt: str(raw.prompt, d.prompt),
    target: str(raw.target, d.target),
  };
}

export function writeState(storage: StorageLike | null, s: PageState): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(s));
  } catch {
    // storage full or blocked: the page still works, it just forgets
  }
}
