import { transferHandlers } from 'comlink';
import { withErrorCode } from '../protocol/errors';

let installed = false;

/** Call once per realm (page and worker) before any RPC; both ends must agree on the wire. */
export function installErrorTransfer(): void {
  if (installed) return;
  const base = transferHandlers.get('throw');
  if (!base) throw new Error("comlink has no 'throw' transfer handler to extend");
  transferHandlers.set('throw', withErrorCode(base));
  installed = true;
}
