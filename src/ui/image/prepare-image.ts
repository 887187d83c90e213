// The page's side of a picture: fetch it from an address (with the usual failures said in words),
// learn its size, and make the two copies the store keeps: the bytes for a reload (small pictures)
// and a copy for share links (the exact bytes when tiny, else a reduced JPEG drawn on a canvas).
// The engine decodes and checks the picture itself; nothing here refuses one it could read.
import type { Size } from '../../core/image-regions';
import {
  type ImageOrigin,
  type LinkImage,
  MAX_LINK_IMAGE_BYTES,
  MAX_SAVED_IMAGE_BYTES,
  type PickedImage,
  bytesToBase64,
  imageInPrompt,
  newImageKey,
  sniffLinkImageType,
  withImageMarker,
  withoutImageMarker,
} from '../../state/slices/image-slice';
import type { AppStore } from '../../state/slices/store';
import { pictureNeedsConsent } from '../../state/slices/image-slice';
import { fetchInWorker } from '../../runtime-client/download-client';

export class ImageFetchError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ImageFetchError';
  }
}

/** At most this many bytes are fetched from an address (the engine accepts no more either). */
export const MAX_FETCH_BYTES = 50 * 1024 * 1024;

const hostOf = (url: string): string => {
  try {
    return new URL(url, location.href).host;
  } catch {
    return url;
  }
};

/** Fetches a picture in the page. Failures come back as ImageFetchError with a sentence a user understands. */
export async function fetchImage(url: string, fetchFn: typeof fetch = fetch): Promise<Blob> {
  let abs: URL;
  try {
    abs = new URL(url, typeof location === 'undefined' ? 'http://localhost/' : location.href);
  } catch {
    throw new ImageFetchError('IMAGE_URL_FAILED', `${JSON.stringify(url)} is not a web address.`);
  }
  if (abs.protocol !== 'http:' && abs.protocol !== 'https:') {
    throw new ImageFetchError('IMAGE_URL_FAILED', `Only http(s) addresses can be loaded here (this one starts with ${abs.protocol}).`);
  }
  let r: Response;
  try {
    r = await fetchFn(abs.href, { mode: 'cors', credentials: 'omit', cache: 'force-cache' });
  } catch {
    const same = typeof location !== 'undefined' && abs.origin === location.origin;
    throw new ImageFetchError(
      'IMAGE_URL_FAILED',
      same
        ? `The image at ${abs.pathname} could not be loaded (the server did not answer).`
        : `The image at ${hostOf(abs.href)} could not be loaded. Most sites do not let other pages read their pictures (their server does not send CORS permission), or the address cannot be reached from here. Save the picture and choose the file, or copy it and paste it here.`,
    );
  }
  if (!r.ok) throw new ImageFetchError('IMAGE_URL_FAILED', `The image address answered ${r.status}${r.statusText ? ` ${r.statusText}` : ''}: there is no picture there.`);
  const type = r.headers.get('content-type') ?? '';
  if (/^text\/html/i.test(type)) throw new ImageFetchError('IMAGE_NOT_AN_IMAGE', `The address ${hostOf(abs.href)}${abs.pathname} gives a web page, not a picture. Use the address of the image itself (right-click the picture, "Copy image address").`);
  const length = Number(r.headers.get('content-length'));
  if (length > MAX_FETCH_BYTES) throw new ImageFetchError('IMAGE_TOO_LARGE', `The image at ${hostOf(abs.href)} is ${(length / 2 ** 20).toFixed(0)} MB; images up to 50 MB are accepted.`);
  return r.blob();
}

/** The picture's size, when this browser can decode it; null otherwise (the engine will say why on Explain). */
export async function probeSize(blob: Blob): Promise<Size | null> {
  if (blob.size === 0) return null;
  if (typeof createImageBitmap === 'function') {
    try {
      const b = await createImageBitmap(blob);
      const size = { width: b.width, height: b.height };
      b.close();
      return size.width > 0 && size.height > 0 ? size : null;
    } catch {
      return null;
    }
  }
  return null;
}

const toBase64url = (b64: string): string => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** base64 of the bytes when they are small enough to keep across a reload; null otherwise. */
export async function savedCopy(blob: Blob): Promise<string | null> {
  if (blob.size === 0 || blob.size > MAX_SAVED_IMAGE_BYTES) return null;
  return bytesToBase64(new Uint8Array(await blob.arrayBuffer()));
}

/** Sides tried for a reduced copy, largest first. */
const REDUCED_SIDES = [192, 160, 128, 96, 72, 56, 40];
const QUALITIES = [0.8, 0.6, 0.45];

/** A copy for share links: the exact bytes when they fit, else the largest reduced JPEG that does; null when none does. */
export async function makeLinkCopy(blob: Blob, size: Size | null, limit = MAX_LINK_IMAGE_BYTES): Promise<LinkImage | null> {
  if (!size) return null;
  if (blob.size > 0 && blob.size <= limit) {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const type = sniffLinkImageType(bytes);
    if (type) return { type, data: toBase64url(bytesToBase64(bytes)), width: size.width, height: size.height, exact: true };
  }
  if (typeof createImageBitmap !== 'function' || typeof document === 'undefined') return null;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    return null;
  }
  try {
    for (const side of REDUCED_SIDES) {
      const s = Math.min(1, side / Math.max(size.width, size.height));
      const w = Math.max(1, Math.round(size.width * s));
      const h = Math.max(1, Math.round(size.height * s));
      const canvas = document.createElement('canvas');
      canvas.width = w;
      canvas.height = h;
      const ctx = canvas.getContext('2d');
      if (!ctx) return null;
      // JPEG has no alpha; the engine composites transparency on white too.
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, w, h);
      ctx.drawImage(bitmap, 0, 0, w, h);
      for (const q of QUALITIES) {
        const out = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', q));
        if (out && out.size <= limit) {
          return { type: 'image/jpeg', data: toBase64url(bytesToBase64(new Uint8Array(await out.arrayBuffer()))), width: w, height: h, exact: false };
        }
      }
    }
    return null;
  } finally {
    bitmap.close();
  }
}

/** Learns what the page can about the current picture (size, copies) and stores it, unless the picture changed meanwhile. */
export async function completeImage(store: AppStore, img: PickedImage): Promise<void> {
  const done = store.getState().completeImage;
  let size: Size | null = img.width && img.height ? { width: img.width, height: img.height } : null;
  if (!size) {
    size = await probeSize(img.blob);
    if (size) done(img.key, size);
  }
  if (img.saved === undefined) done(img.key, { saved: await savedCopy(img.blob).catch(() => null) });
  if (img.linkCopy === undefined) done(img.key, { linkCopy: await makeLinkCopy(img.blob, size).catch(() => null) });
}

/** Puts a picture into the store (replacing the last one and its drawn regions) and marks the prompt for in-sequence models. */
export function setPicture(store: AppStore, blob: Blob, name: string, origin: ImageOrigin, url?: string): PickedImage {
  const img: PickedImage = { blob, name: name || 'image', width: null, height: null, origin, ...(url ? { url } : {}), key: newImageKey() };
  const s = store.getState();
  s.setImage(img);
  if (imageInPrompt(s) && !s.prompt.includes('<image>')) store.setState({ prompt: withImageMarker(s.prompt), generation: null });
  void completeImage(store, img);
  return img;
}

/** Removes the picture (and, for in-sequence models, the prompt's marker that stood for it). */
export function clearPicture(store: AppStore): void {
  const s = store.getState();
  s.setImage(null);
  if (imageInPrompt(s) && s.prompt.includes('<image>')) store.setState({ prompt: withoutImageMarker(s.prompt), generation: null });
}

/** Fetches an address and makes it the picture; failures land in the error banner. */
export async function pictureFromUrl(store: AppStore, url: string, origin: ImageOrigin = 'url', name?: string): Promise<boolean> {
  store.setState({ imageLoading: url });
  try {
    // A host outside this site and the hub (confirmed by the user, or typed by them) is beyond
    // the page's connect-src; the download worker fetches it (see workers/download.worker.ts).
    const blob = await fetchImage(url, pictureNeedsConsent(url) ? (fetchInWorker(MAX_FETCH_BYTES) as typeof fetch) : fetch);
    setPicture(store, blob, name ?? (url.split(/[/?#]/).filter(Boolean).pop() || 'image'), origin, url);
    return true;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    store.getState().setError({ code: err.code ?? 'IMAGE_URL_FAILED', message: err.message ?? String(e) });
    return false;
  } finally {
    store.setState({ imageLoading: null });
  }
}

/** A dropped or pasted file list's picture: the first file with an image type or name; else the first file. */
export function pictureFile(files: ArrayLike<File> | null | undefined): File | null {
  if (!files || files.length === 0) return null;
  const list = Array.from(files);
  return list.find((f) => /^image\//.test(f.type) || /\.(png|jpe?g|gif|webp|bmp|avif|tiff?)$/i.test(f.name)) ?? list[0] ?? null;
}

/** Whether a drop on the page is one picture (not a model folder). */
export function isPictureDrop(dt: DataTransfer | null): File | null {
  if (!dt || dt.files.length !== 1) return null;
  const f = dt.files[0]!;
  return /^image\//.test(f.type) ? f : null;
}

