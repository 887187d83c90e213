// Where a share link (or saved state) may point a model or a picture. One rule for both: an
// address is judged only AFTER the browser's own URL resolution against this app's origin, so
// the tricks that fool a text check ("//host", "/\host", "url://host", "https:host", tabs
// inside "//", upper-case schemes) all end up as the host they really reach. Then:
//   - this app's own origin ('this-site'): loaded without asking;
//   - the Hugging Face hub ('hub'): loaded without asking where it is from (a model of unknown
//     size is still confirmed for its size, see needsDownloadConsent);
//   - anything else ('outside'): only after the user confirms, shown the full resolved host.
// Addresses a person would never type (backslashes, control or space characters, user:password@,
// schemes other than http(s)) are refused outright.

/** The hub's host as a link may name it; its file servers are reached only by its redirects. */
export const HUB_LINK_HOSTS: readonly string[] = ['huggingface.co'];

/** Resolves relative addresses when no page is around (Node tests, the CLI): never a real host. */
export const PLACEHOLDER_ORIGIN = 'https://this-site.invalid';

/** Longest address a link may carry (a model's base URL or a picture's address). */
export const MAX_ADDRESS_CHARS = 2000;

/** A full web address, or a path on this site ("/…", "./…", "../…"); "//host" is neither. */
const ADDRESS_SHAPE = /^(https?:\/\/[^/]|\/(?!\/)|\.\.?\/)/i;

export type Place = 'this-site' | 'hub' | 'outside';

export interface ResolvedAddress {
  /** the absolute address, as the browser will fetch it */
  href: string;
  /** host[:port], as shown to the user */
  host: string;
  place: Place;
}

/** This page's origin; the placeholder where there is no web page (Node, file://). */
export function pageOrigin(): string {
  const o: unknown = typeof location === 'undefined' ? undefined : location.origin;
  return typeof o === 'string' && /^https?:\/\/[^/]+$/.test(o) ? o : PLACEHOLDER_ORIGIN;
}

/**
 * The address as it will be fetched, and where that is; null when it is not one a link may
 * carry (empty, too long, not http(s) after resolution, or spelled with characters the URL parser
 * silently rewrites or drops).
 */
export function resolveAddress(text: unknown, origin: string = pageOrigin()): ResolvedAddress | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_ADDRESS_CHARS) return null;
  // Backslashes read as '/', and tabs and newlines vanish, inside the parser: both hide hosts.
  if (/[\\\s\u0000-\u001f\u007f]/.test(text) || !ADDRESS_SHAPE.test(text)) return null;
  let u: URL;
  let base: URL;
  try {
    base = new URL(origin);
    u = new URL(text, base);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username !== '' || u.password !== '') return null;
  const place: Place = u.origin === base.origin ? 'this-site' : u.protocol === 'https:' && u.port === '' && HUB_LINK_HOSTS.includes(u.hostname) ? 'hub' : 'outside';
  return { href: u.href, host: u.host, place };
}

/** Whether fetching this address needs the user's yes first (unreadable addresses always do). */
export function isOutside(text: string, origin: string = pageOrigin()): boolean {
  const r = resolveAddress(text, origin);
  return r === null || r.place === 'outside';
}
