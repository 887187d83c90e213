/// <reference lib="webworker" />
// Downloads one address the user confirmed (a picture on another site) and hands the bytes to
// the page. Why a worker: the page's Content-Security-Policy limits its own connections to this
// site and the hub, and a <meta> policy cannot grow at run time to take in a host the user just
// confirmed; a worker script's policy is its own (none is sent with it), so the page asks this
// worker instead. The page only ever asks after the user said yes (see link-targets.ts).
import type { DownloadReply, DownloadRequest } from '../src/runtime-client/download-client';
import { readStream } from '../src/runtime/sources/model-source';

self.onmessage = async (e: MessageEvent<DownloadRequest>) => {
  const { url, maxBytes } = e.data;
  const reply = (r: DownloadReply, transfer: Transferable[] = []) => (self as unknown as DedicatedWorkerGlobalScope).postMessage(r, transfer);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return reply({ ok: false, message: 'not an address' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return reply({ ok: false, message: 'not an http(s) address' });
  try {
    const r = await fetch(u.href, { mode: 'cors', credentials: 'omit', cache: 'force-cache' });
    const headers = [...r.headers].filter(([k]) => k === 'content-type' || k === 'content-length');
    const body = r.body ? await readStream(r.body, maxBytes) : new Uint8Array(0);
    if (!body) return reply({ ok: false, tooLarge: true, message: `larger than ${maxBytes} bytes` });
    reply({ ok: true, status: r.status, statusText: r.statusText, headers, body: body.buffer }, [body.buffer]);
  } catch (err) {
    reply({ ok: false, message: String((err as Error)?.message ?? err) });
  }
};
