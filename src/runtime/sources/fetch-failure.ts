// Why a download failed, in words: no network, a name that does not resolve, a host that refuses
// or does not answer, a browser refusing to show this page the answer (CORS), or an HTTP status.
// Each cause wants a different action from the user (go online, change network, sign in, wait,
// check the id), and "the model is missing files" is the wrong answer to all but one.
import { AtmanError, type AtmanErrorCode } from '../../core/errors';

export type NetworkCause = 'offline' | 'dns' | 'refused' | 'timeout' | 'unreachable' | 'cors';

/** How to tell a browser's opaque "Failed to fetch" apart; defaults read the running environment. */
export interface FetchFailureEnv {
  /** navigator.onLine where there is one (browsers); undefined in Node */
  onLine?: boolean;
  /** whether a no-cors request to the URL gets any answer (then the server is there and CORS refused the real one) */
  reachable?: (url: string) => Promise<boolean>;
}

const BUNDLED = 'bundled models still work';

// Node's fetch (undici) puts the system error under `cause`, sometimes inside an AggregateError
// (one per address tried).
const NODE_CAUSES: Record<string, NetworkCause> = {
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_NONAME: 'dns',
  EAI_FAIL: 'dns',
  ECONNREFUSED: 'refused',
  ECONNRESET: 'refused',
  UND_ERR_SOCKET: 'refused',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  ENETUNREACH: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETDOWN: 'offline',
};

/** The system cause a failed fetch carries (Node), or null (browsers say only "Failed to fetch"). */
export function systemCause(e: unknown): NetworkCause | null {
  const code = systemCode(e);
  return code ? NODE_CAUSES[code]! : null;
}

/**
 * fetch, tried once more when a kept-alive connection turned out closed (the server dropped it
 * while this side was busy, e.g. computing passes): the first request on it fails with a reset
 * though the server is there. Only for GET and HEAD, which may be repeated.
 */
export async function fetchRetryingReset(fetchImpl: typeof fetch, url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetchImpl(url, init);
  } catch (e) {
    const code = systemCode(e);
    if ((code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') && (init.method ?? 'GET') !== 'POST') return fetchImpl(url, init);
    throw e;
  }
}

function systemCode(e: unknown): string | null {
  const seen = new Set<unknown>();
  const queue: unknown[] = [e];
  while (queue.length) {
    const x = queue.shift();
    if (!x || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && NODE_CAUSES[code]) return code;
    queue.push((x as { cause?: unknown }).cause, ...((x as { errors?: unknown[] }).errors ?? []));
  }
  return null;
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

function defaultEnv(): FetchFailureEnv {
  const nav = (globalThis as { navigator?: { onLine?: unknown } }).navigator;
  const onLine = typeof nav?.onLine === 'boolean' ? nav.onLine : undefined;
  return {
    ...(onLine !== undefined ? { onLine } : {}),
    reachable: (url) => fetch(url, { method: 'HEAD', mode: 'no-cors', cache: 'no-store' }).then(() => true, () => false),
  };
}

/** The cause of a fetch that threw (no HTTP answer at all). */
export async function networkCause(url: string, e: unknown, env: FetchFailureEnv = defaultEnv()): Promise<NetworkCause> {
  const sys = systemCause(e);
  if (sys) return sys;
  if (env.onLine === false) return 'offline';
  // A browser gives one opaque TypeError for DNS, refused connections, blocking filters and CORS.
  // A no-cors request is not subject to CORS: if it gets an answer, the server is there and CORS
  // refused the real request; if not, nothing answered.
  if (env.onLine === true && env.reachable && (await env.reachable(url).catch(() => false))) return 'cors';
  return 'unreachable';
}

const CAUSE_WORDS: Record<NetworkCause, string> = {
  offline: 'this device is offline',
  dns: 'its name does not resolve (offline, or this network blocks it)',
  refused: 'the connection was refused (offline, or blocked)',
  timeout: 'it did not answer in time (offline, or blocked)',
  unreachable: 'offline or blocked',
  cors: '',
};

/** A fetch that threw, as a typed error in words: NETWORK_UNREACHABLE or NETWORK_CORS. */
export async function fetchFailure(url: string, what: string, e: unknown, env?: FetchFailureEnv): Promise<AtmanError> {
  const cause = await networkCause(url, e, env);
  const host = hostOf(url);
  const detail = { url, cause, message: (e as Error)?.message };
  if (cause === 'cors') {
    return new AtmanError(
      'NETWORK_CORS',
      `${host} answered, but the browser did not let this page read ${what} (CORS: the server, or a proxy or login page of this network in its place, does not allow this site); ${BUNDLED}.`,
      detail,
    );
  }
  return new AtmanError('NETWORK_UNREACHABLE', `Couldn't reach ${host} for ${what}: ${CAUSE_WORDS[cause]}; ${BUNDLED}.`, detail);
}

/** An HTTP status that is not a success, by what it means for the user; `missing` is the code for a 404. */
export function httpFailure(status: number, host: string, what: string, missing: AtmanErrorCode = 'MODEL_FILES_MISSING', retryAfter?: string | null): AtmanError {
  const detail = { status, host };
  if (status === 401 || status === 403) {
    return new AtmanError('ACCESS_DENIED', `${host} refused access to ${what} (HTTP ${status}): it is private or gated, which needs a sign-in this app does not do.`, detail);
  }
  if (status === 404 || status === 410) return new AtmanError(missing, `${host} has no ${what} (HTTP ${status}).`, detail);
  if (status === 429) {
    const wait = retryAfter && /^\d+$/.test(retryAfter) ? `in ${retryAfter} s` : 'in a minute';
    return new AtmanError('RATE_LIMITED', `${host} is limiting requests from this network (HTTP 429, too many requests) for ${what}; try again ${wait}. ${cap(BUNDLED)}.`, detail);
  }
  if (status >= 500) return new AtmanError('SERVER_ERROR', `${host} failed on its side (HTTP ${status}) for ${what}; try again later. ${cap(BUNDLED)}.`, detail);
  return new AtmanError(missing, `${host} answered HTTP ${status} for ${what}.`, detail);
}

const cap = (s: string): string => s[0]!.toUpperCase() + s.slice(1);
