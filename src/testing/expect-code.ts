// Tests: a promise (or a function) must fail with a typed AtmanError of this code; returns its message.
import { expect } from 'vitest';
import { type AtmanErrorCode, isAtmanError } from '../core/errors';

export async function expectCode(p: Promise<unknown> | (() => unknown), code: AtmanErrorCode, words?: RegExp): Promise<string> {
  let err: unknown;
  let threw = false;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
    threw = true;
  }
  if (!threw) expect.unreachable(`expected AtmanError ${code}`);
  expect(isAtmanError(err, code), `expected ${code}, got ${(err as Error)?.name}: ${(err as Error)?.message ?? String(err)}`).toBe(true);
  const message = (err as Error).message;
  if (words) expect(message).toMatch(words);
  return message;
}
