// A fetch()-shaped door to workers/download.worker.ts, for addresses on hosts the user confirmed
// (the page's own Content-Security-Policy admits only this site and the hub). One short-lived
// worker per download; a network failure rejects like fetch() does.
export interface DownloadRequest {
  url: string;
  /** refuse bodies longer than this */
  maxBytes: number;
}

export type DownloadReply =
  | { ok: true; status: number; statusText: string; headers: Array<[string, string]>; body: ArrayBuffer }
  | { ok: false; tooLarge?: boolean; message: string };

export function fetchInWorker(maxBytes: number): (input: string) => Promise<Response> {
  return (url) =>
    new Promise<Response>((resolve, reject) => {
      const w = new Worker(new URL('../../workers/download.worker.ts', import.meta.url), { type: 'module', name: 'atman-download' });
      const done = () => w.terminate();
      w.onmessage = (e: MessageEvent<DownloadReply>) => {
        done();
        const r = e.data;
        if (r.ok) resolve(new Response(r.body, { status: r.status, statusText: r.statusText, headers: r.headers }));
        // Too large: answer as the server would have (its size header), so the caller's check says so.
        else if (r.tooLarge) resolve(new Response(null, { status: 200, headers: [['content-length', String(maxBytes + 1)]] }));
        else reject(new TypeError(`Failed to fetch (${r.message})`));
      };
      w.onerror = (e) => {
        done();
        reject(new TypeError(`Failed to fetch (${e.message || 'the download worker stopped'})`));
      };
      w.postMessage({ url, maxBytes } satisfies DownloadRequest);
    });
}
