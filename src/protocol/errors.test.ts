import { afterEach, describe, expect, it } from 'vitest';
import { expose, wrap, transferHandlers, type Remote } from 'comlink';
import { withErrorCode } from './errors';

class CodedError extends Error {
  override name = 'CodedError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const api = {
  async coded(): Promise<void> {
    throw new CodedError('BACKEND_FAILED', 'no adapter');
  },
  async plain(): Promise<void> {
    throw new TypeError('bad input');
  },
  async notAnError(): Promise<void> {
    throw { reason: 'raw' };
  },
};

function connect(): { remote: Remote<typeof api>; close(): void } {
  const { port1, port2 } = new MessageChannel();
  expose(api, port1 as unknown as Parameters<typeof expose>[1]);
  return {
    remote: wrap<typeof api>(port2 as unknown as Parameters<typeof wrap>[0]),
    close: () => (port1.close(), port2.close()),
  };
}

describe('withErrorCode', () => {
  const base = transferHandlers.get('throw')!;
  transferHandlers.set('throw', withErrorCode(base));
  let close = () => {};
  afterEach(() => close());

  it('keeps name, message and code of a thrown error', async () => {
    const c = connect();
    close = c.close;
    const e = await c.remote.coded().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'CodedError', message: 'no adapter', code: 'BACKEND_FAILED' });
    expect((e as Error).stack).toContain('no adapter');
  });

  it('keeps name and message of errors without a code', async () => {
    const c = connect();
    close = c.close;
    const e = await c.remote.plain().catch((x: unknown) => x);
    expect(e).toMatchObject({ name: 'TypeError', message: 'bad input' });
    expect(e).not.toHaveProperty('code');
  });

  it('passes non-Error throws through unchanged', async () => {
    const c = connect();
    close = c.close;
    await expect(c.remote.notAnError()).rejects.toEqual({ reason: 'raw' });
  });
});
