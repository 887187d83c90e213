// The built app's Content-Security-Policy, written into every built HTML page as a <meta> tag
// (the app is static files: any host can serve it, and a meta policy travels with it). The dev
// server goes without: its hot reload injects inline scripts.
//
// What the page may do:
//   script-src  'self' 'wasm-unsafe-eval'  the bundle only, no inline script, no eval; WebAssembly
//                                          may compile (onnxruntime-web's .wasm)
//   worker-src  'self'                     the engine and download workers are files of the app
//                                          (ORT's threads are started by the engine worker itself)
//   connect-src 'self' + the hub           the app's own files, and huggingface.co with the hosts
//                                          its `resolve` URLs redirect to (HUB_CONNECT_SOURCES)
//   img-src     'self' data: blob:         pictures are shown from memory (object URLs)
//   style-src   'self' 'unsafe-inline'     charts set style attributes; styles cannot run script,
//                                          and with img/connect this narrow they cannot leak either
//   object-src 'none', base-uri 'none', form-action 'none', default-src 'self'
//
// A host the user confirmed (a model or picture on another site) is not in connect-src: a meta
// policy is fixed when the page loads and cannot take in a host chosen later. Those downloads run
// in workers (the engine worker for models, workers/download.worker.ts for pictures): a worker
// started from a URL is governed by the policy sent with its own script, and the app sends none,
// so the page stays locked to this site and the hub while a confirmed download still works. A
// host that serves the app with the policy as an HTTP header must send it for the HTML pages
// only, not for the worker scripts, or confirmed downloads are refused (and say so).
import type { Plugin } from 'vite';

/**
 * The hub and its file servers. `resolve/main/<file>` on huggingface.co answers with a redirect to
 * a file host that has changed over the years and differs by region and storage backend:
 * cdn-lfs.huggingface.co, cdn-lfs-us-1.huggingface.co, cdn-lfs-eu-1.huggingface.co (LFS, older);
 * cdn-lfs.hf.co, cdn-lfs-us-1.hf.co, cdn-lfs-eu-1.hf.co (LFS); cas-bridge.xethub.hf.co,
 * cas-bridge.xethub-eu.hf.co, transfer.xethub.hf.co (Xet storage); us.aws.cdn.hf.co,
 * us.gcp.cdn.hf.co (regional CDN edges). Pinning that list breaks every cold download the day the
 * hub adds a host, so the policy names the two domains the hub owns, with their subdomains.
 */
export const HUB_CONNECT_SOURCES = ['https://huggingface.co', 'https://*.huggingface.co', 'https://*.hf.co'] as const;

export const CSP_DIRECTIVES: Readonly<Record<string, readonly string[]>> = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'worker-src': ["'self'"],
  'connect-src': ["'self'", ...HUB_CONNECT_SOURCES],
  'img-src': ["'self'", 'data:', 'blob:'],
  'style-src': ["'self'", "'unsafe-inline'"],
  'font-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
};

export const contentSecurityPolicy = (directives: Readonly<Record<string, readonly string[]>> = CSP_DIRECTIVES): string =>
  Object.entries(directives)
    .map(([name, sources]) => `${name} ${sources.join(' ')}`)
    .join('; ');

/** Adds the policy as the first element of <head> in every built page. */
export function cspMeta(policy: string = contentSecurityPolicy()): Plugin {
  return {
    name: 'atman-csp-meta',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: policy }, injectTo: 'head-prepend' }],
    },
  };
}

/** Whether a URL's host is one the policy's connect-src admits (for tests; 'self' not included). */
export function connectAllows(url: string, sources: readonly string[] = CSP_DIRECTIVES['connect-src']!): boolean {
  const u = new URL(url);
  return sources.some((s) => {
    const m = /^(https?):\/\/(\*\.)?([^/:]+)$/.exec(s);
    if (!m || `${m[1]}:` !== u.protocol) return false;
    return m[2] ? u.hostname.endsWith(`.${m[3]}`) : u.hostname === m[3];
  });
}
