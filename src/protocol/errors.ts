import type { TransferHandler } from 'comlink';

// Comlink's built-in 'throw' handler sends only name, message and stack; callers branch on
// `code` (see AtmanError), so both ends wrap it to carry `code` as well. Its deserialize
// already does Object.assign(new Error(message), wire), so extra fields arrive as own props.
// The base handler is passed in (comlink does not export its throw marker), which also keeps
// this module free of runtime imports.

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

type WireThrown = { isError: true; value: SerializedError } | { isError: false; value: unknown };

export function withErrorCode(base: TransferHandler<unknown, unknown>): TransferHandler<unknown, unknown> {
  return {
    canHandle: (v): v is unknown => base.canHandle(v),
    serialize(thrown) {
      const [wire, transfers] = base.serialize(thrown) as [WireThrown, Transferable[]];
      const err = (thrown as { value: unknown }).value;
      const code = (err as { code?: unknown } | null)?.code;
      if (wire.isError && (typeof code === 'string' || typeof code === 'number')) {
        wire.value.code = String(code);
      }
      return [wire, transfers];
    },
    deserialize: (wire) => base.deserialize(wire),
  };
}
