// The picture for a vision-language model: the bytes the user gave (file, drop, paste, URL, a
// demo example or a share link), how its explanation is drawn (opacity, which frames), the
// rectangle being drawn on it and the regions sent with each explanation. The bytes stay in
// memory; a small copy survives reloads and a smaller one travels in share links (both made by
// the page, which can decode and re-encode pictures; see src/ui/image/prepare-image.ts).
import type { StateCreator } from 'zustand';
import type { Rect } from '../../core/image-regions';
import type { ImageData as EngineImage, ImageShape } from '../../protocol/engine-api';
import { isOutside, pageOrigin, resolveAddress } from '../link-targets';
import { LIMITS, type Problems, copyRect, isNum, isRect, quote, sanitizeImageUrl } from '../sanitize';
import type { SharedImage, SharedState } from './app-state';
import type { AppState } from './app-state';
import { LINK_IMAGE_TYPES, type LinkImageType, type LinkImage, type ImageOrigin, type PickedImage, type FrameChoice, type ImageView, type ImageSlice } from './app-state';
import { base64ToBytes } from '../base64';
export { base64ToBytes, bytesToBase64 } from '../base64';
export { LINK_IMAGE_TYPES } from './app-state';
export type { LinkImageType, LinkImage, ImageOrigin, PickedImage, FrameChoice, ImageView, ImageSlice } from './app-state';

export const DEFAULT_IMAGE_VIEW: ImageView = { opacity: 0.65, frames: 'tiles' };

/** Drawn regions per explanation (each is one more unit and one more pass). */
export const MAX_IMAGE_REGIONS = 8;
/** Pictures up to this many bytes are kept across reloads (as base64 in localStorage). */
export const MAX_SAVED_IMAGE_BYTES = 512 * 1024;
/** Inline pictures in share links: at most this many bytes (before base64). */
export const MAX_LINK_IMAGE_BYTES = 6 * 1024;

export const IMAGE_MARKER = '<image>';

let keySeq = 0;
/** A fresh picture key (unique within this page; a restored picture gets a new one). */
export const newImageKey = (): string => `img-${Date.now().toString(36)}-${(++keySeq).toString(36)}`;

export const createImageSlice: StateCreator<AppState, [], [], ImageSlice> = (set, get) => ({
  image: null,
  imagePending: null,
  imageLoading: null,
  imageView: { ...DEFAULT_IMAGE_VIEW },
  brush: null,
  imageRegions: [],
  explanationImageKey: null,

  setImage: (image) => set({ image, imagePending: null, brush: null, imageRegions: [] }),
  completeImage(key, patch) {
    const img = get().image;
    if (img && img.key === key) set({ image: { ...img, ...patch } });
  },
  setImageView: (patch) => set({ imageView: { ...get().imageView, ...patch } }),
  setBrush: (brush) => set({ brush }),
  addRegion: (r) => set({ imageRegions: [...get().imageRegions, r].slice(-MAX_IMAGE_REGIONS), brush: null }),
  clearRegions: () => set({ imageRegions: [], brush: null }),
});

// ---------------------------------------------------------------- helpers (pure)

/** Whether the loaded model (when it is the chosen one) reads pictures. */
export function modelReadsImages(s: Pick<AppState, 'loaded'>): boolean {
  return s.loaded?.info.acceptsImages === true;
}

/** Whether the loaded model takes the picture inside its prompt (at an '<image>' marker). */
export function imageInPrompt(s: Pick<AppState, 'loaded'>): boolean {
  return s.loaded?.info.layout === 'image-text-to-text';
}

/** The prompt with an '<image>' marker at the start when it has none. */
export function withImageMarker(prompt: string): string {
  return prompt.includes(IMAGE_MARKER) ? prompt : IMAGE_MARKER + prompt;
}

/** The prompt without its '<image>' markers (and the space a marker leaves at the start). */
export function withoutImageMarker(prompt: string): string {
  return prompt.split(IMAGE_MARKER).join('');
}

/** What an explain / plan request carries about the picture: nothing for text-only models. */
export function imageRequest(s: Pick<AppState, 'image' | 'imageRegions' | 'loaded'>): { image?: EngineImage; imageRegions?: ImageShape[] } {
  if (!s.image || !modelReadsImages(s)) return {};
  const regions: ImageShape[] = s.imageRegions.map((rect) => ({ kind: 'rect', rect: { ...rect } }));
  return { image: { data: s.image.blob, name: s.image.name }, ...(regions.length ? { imageRegions: regions } : {}) };
}

/** The picture for generate(), when the model reads one. */
export function imageForGenerate(s: Pick<AppState, 'image' | 'loaded'>): EngineImage | undefined {
  return s.image && modelReadsImages(s) ? { data: s.image.blob, name: s.image.name } : undefined;
}

/** Label the engine gives the k-th drawn region (1-based), as src/runtime/image/image-passes.ts names it. */
export const drawnRegionLabel = (k: number): string => `drawn region ${k}`;
export const isDrawnRegionLabel = (label: string): boolean => /^drawn region \d+$/.test(label);

/** Clamps a rectangle into the picture and drops empty ones (null). */
export function clampRect(r: Rect, width: number, height: number): Rect | null {
  const left = Math.max(0, Math.min(width, Math.min(r.left, r.left + r.width)));
  const top = Math.max(0, Math.min(height, Math.min(r.top, r.top + r.height)));
  const right = Math.max(0, Math.min(width, Math.max(r.left, r.left + r.width)));
  const bottom = Math.max(0, Math.min(height, Math.max(r.top, r.top + r.height)));
  if (!(right - left > 0 && bottom - top > 0)) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/** A rectangle of one picture's pixels in the pixels of the same picture at another size. */
export function scaleRect(r: Rect, from: { width: number; height: number }, to: { width: number; height: number }): Rect {
  const sx = to.width / from.width;
  const sy = to.height / from.height;
  return { left: r.left * sx, top: r.top * sy, width: r.width * sx, height: r.height * sy };
}

/** Rounds to 0.01 px, enough for any drawing and short in a link. */
export const roundRect = (r: Rect): Rect => {
  const q = (v: number) => Math.round(v * 100) / 100;
  return { left: q(r.left), top: q(r.top), width: q(r.width), height: q(r.height) };
};

// ---------------------------------------------------------------- bytes



/** The format the bytes start with, among those a link may carry; null otherwise. */
export function sniffLinkImageType(b: Uint8Array): LinkImageType | null {
  const at = (i: number, ...xs: number[]) => xs.every((x, k) => b[i + k] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return null;
}

// ---------------------------------------------------------------- persistence

export interface SavedImage {
  name: string;
  origin: ImageOrigin;
  width: number | null;
  height: number | null;
  /** base64 bytes when small enough */
  data?: string;
  type?: string;
  /** the address to fetch it again from, when it was too large to keep */
  url?: string;
}

export interface PersistedImage {
  image: SavedImage | null;
  imageView: ImageView;
  imageRegions: Rect[];
  explanationImageKey: string | null;
  /** the key of the saved picture, so a restored result still counts as computed on it */
  imageKey: string | null;
}

export function persistImage(s: Pick<AppState, 'image' | 'imageView' | 'imageRegions' | 'explanationImageKey' | 'imagePending'>): PersistedImage {
  const img = s.image;
  let saved: SavedImage | null = null;
  if (img) {
    const base = { name: img.name, origin: img.origin, width: img.width, height: img.height };
    if (img.saved) saved = { ...base, data: img.saved, type: img.blob.type };
    else if (img.url) saved = { ...base, url: img.url };
    // Too large and from nowhere we can fetch again: remembered by name only, so the page can say so.
    else saved = base;
  } else if (s.imagePending) saved = { name: s.imagePending.name, origin: 'url', width: null, height: null, url: s.imagePending.url };
  return {
    image: saved,
    imageView: s.imageView,
    imageRegions: s.imageRegions,
    explanationImageKey: s.explanationImageKey,
    imageKey: img?.key ?? null,
  };
}

/** A picture rebuilt from saved bytes (or a pending fetch, or a notice when it was not kept). */
export function restoredImage(saved: SavedImage, key: string): { image?: PickedImage; pending?: ImageSlice['imagePending']; notice?: string } {
  if (saved.data !== undefined) {
    const bytes = base64ToBytes(saved.data);
    if (bytes && bytes.length > 0) {
      const type = typeof saved.type === 'string' && /^image\/[a-z0-9.+-]{1,30}$/i.test(saved.type) ? saved.type : (sniffLinkImageType(bytes) ?? '');
      return {
        image: {
          blob: new Blob([bytes as Uint8Array<ArrayBuffer>], { type }),
          name: saved.name,
          width: saved.width,
          height: saved.height,
          origin: saved.origin,
          ...(saved.url ? { url: saved.url } : {}),
          key,
          saved: saved.data,
        },
      };
    }
    return { notice: `The saved image ${JSON.stringify(saved.name)} was damaged; pick it again.` };
  }
  if (saved.url) return { pending: { url: saved.url, name: saved.name, ask: pictureNeedsConsent(saved.url) } };
  return { notice: `The image ${JSON.stringify(saved.name)} was too large to keep across a reload; pick it again.` };
}

/** An address on this app's origin, judged after URL resolution (link-targets.ts). */
export function isSameSiteUrl(url: string, origin: string = pageOrigin()): boolean {
  return resolveAddress(url, origin)?.place === 'this-site';
}

/** Whether a picture's address waits for the user's yes: anything but this origin and the hub. */
export const pictureNeedsConsent = (url: string, origin: string = pageOrigin()): boolean => isOutside(url, origin);

// ---------------------------------------------------------------- checks for links and saved state

/** How the picture's explanation is drawn: each field on its own, defaults for bad ones. */
export function sanitizeImageView(v: unknown, problems: Problems): ImageView {
  const out: ImageView = { ...DEFAULT_IMAGE_VIEW };
  if (v === undefined) return out;
  if (typeof v !== 'object' || v === null) {
    problems.push('The image view settings are not readable; using the defaults.');
    return out;
  }
  const r = v as Record<string, unknown>;
  if (r.opacity !== undefined) {
    if (isNum(r.opacity) && r.opacity >= 0 && r.opacity <= 1) out.opacity = r.opacity;
    else problems.push(`The overlay opacity ${quote(r.opacity)} is not between 0 and 1; using ${DEFAULT_IMAGE_VIEW.opacity}.`);
  }
  if (r.frames !== undefined) {
    if (r.frames === 'tiles' || r.frames === 'global') out.frames = r.frames as FrameChoice;
    else problems.push(`Unknown image frames ${quote(r.frames)}; showing the tiles.`);
  }
  return out;
}

/** Drawn rectangles (original pixels): at most MAX_IMAGE_REGIONS, each with a positive area. */
export function sanitizeRegions(v: unknown, problems: Problems): Rect[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push('The drawn image regions are not readable; they were dropped.');
    return [];
  }
  const good = v.filter((r): r is Rect => isRect(r) && r.width > 0 && r.height > 0).map(copyRect);
  if (good.length !== v.length) problems.push(`${v.length - good.length} drawn image region(s) were not readable and were dropped.`);
  if (good.length > MAX_IMAGE_REGIONS) problems.push(`Only the first ${MAX_IMAGE_REGIONS} drawn image regions were kept.`);
  return good.slice(0, MAX_IMAGE_REGIONS);
}

/** The store's part of the saved state: the picture, its view and the drawn regions. */
export function partializeImage(s: AppState): { imageState: PersistedImage } {
  return { imageState: persistImage(s) };
}

/** The saved picture and its view, checked like the rest; a picture too large to keep becomes a notice. */
export function restoreImage(saved: Record<string, unknown>, problems: Problems): Partial<AppState> {
  const v = saved.imageState;
  if (typeof v !== 'object' || v === null) return {};
  const s = v as Record<string, unknown>;
  const out: Partial<AppState> = { imageView: sanitizeImageView(s.imageView, problems), imageRegions: sanitizeRegions(s.imageRegions, problems) };
  const key = typeof s.imageKey === 'string' && s.imageKey.length <= 100 ? s.imageKey : newImageKey();
  const img = s.image as Record<string, unknown> | null | undefined;
  if (typeof img === 'object' && img !== null && typeof img.name === 'string' && img.name.length <= LIMITS.modelText) {
    const dim = (d: unknown) => (typeof d === 'number' && Number.isInteger(d) && d > 0 && d <= 1_000_000 ? d : null);
    const origin: ImageOrigin = ORIGINS.includes(img.origin as ImageOrigin) ? (img.origin as ImageOrigin) : 'saved';
    const url = img.url === undefined ? undefined : (sanitizeImageUrl(img.url, problems) ?? undefined);
    const r = restoredImage(
      {
        name: img.name,
        origin,
        width: dim(img.width),
        height: dim(img.height),
        ...(typeof img.data === 'string' && img.data.length <= 2 * MAX_SAVED_IMAGE_BYTES ? { data: img.data } : {}),
        ...(typeof img.type === 'string' ? { type: img.type } : {}),
        ...(url ? { url } : {}),
      },
      key,
    );
    if (r.image) out.image = r.image;
    if (r.pending) out.imagePending = r.pending;
    if (r.notice) problems.push(r.notice);
  }
  if (out.image && s.explanationImageKey === key) out.explanationImageKey = key;
  return out;
}

const ORIGINS: ImageOrigin[] = ['file', 'drop', 'paste', 'url', 'example', 'link', 'saved'];

// ---------------------------------------------------------------- share links

/** What a share link says about the picture: in full, a reduced copy, its address, or nothing. */
export type ImageInLink = 'none' | 'exact' | 'reduced' | 'url' | 'not-in-link';

export interface ImageLinkFields {
  image?: SharedImage;
  imageView?: ImageView;
  imageRegions?: Rect[];
}

/**
 * The picture's part of a share link. The exact bytes when they are small; else its address when
 * it came from one; else a reduced copy (drawn regions scaled to it); else nothing, and the share
 * bar says so.
 */
export function imageLinkFields(s: Pick<AppState, 'image' | 'imagePending' | 'imageView' | 'imageRegions'>): ImageLinkFields & { inLink: ImageInLink } {
  const img = s.image;
  const extras = (scale: (r: Rect) => Rect = (r) => r) => ({
    imageView: s.imageView,
    ...(s.imageRegions.length ? { imageRegions: s.imageRegions.map((r) => roundRect(scale(r))) } : {}),
  });
  if (!img) {
    if (s.imagePending) return { image: { kind: 'url', url: s.imagePending.url }, ...extras(), inLink: 'url' };
    return { inLink: 'none' };
  }
  const copy = img.linkCopy;
  if (copy?.exact) return { image: { kind: 'data', type: copy.type, data: copy.data, width: copy.width, height: copy.height }, ...extras(), inLink: 'exact' };
  if (img.url) return { image: { kind: 'url', url: img.url }, ...extras(), inLink: 'url' };
  if (copy && img.width && img.height) {
    const from = { width: img.width, height: img.height };
    return {
      image: { kind: 'data', type: copy.type, data: copy.data, width: copy.width, height: copy.height },
      ...extras((r) => scaleRect(r, from, copy)),
      inLink: 'reduced',
    };
  }
  return { inLink: 'not-in-link' };
}

/** The store patch for a link's picture fields: inline bytes become the picture; an address waits to be fetched. */
export function imagePatchFromLink(d: Partial<Pick<SharedState, 'image' | 'imageView' | 'imageRegions'>>): Partial<AppState> {
  const patch: Partial<AppState> = {};
  if (d.image?.kind === 'data') {
    const bytes = base64ToBytes(d.image.data);
    if (bytes) {
      patch.image = {
        blob: new Blob([bytes as Uint8Array<ArrayBuffer>], { type: d.image.type }),
        name: 'image from the link',
        width: d.image.width,
        height: d.image.height,
        origin: 'link',
        key: newImageKey(),
        linkCopy: { type: d.image.type, data: d.image.data, width: d.image.width, height: d.image.height, exact: true },
      };
      patch.imagePending = null;
    }
  } else if (d.image?.kind === 'url') {
    const url = d.image.url;
    patch.image = null;
    patch.imagePending = { url, name: url.split(/[/?#]/).filter(Boolean).pop() ?? 'image', ask: pictureNeedsConsent(url) };
  }
  if (d.image) {
    patch.brush = null;
    patch.imageRegions = d.imageRegions ?? [];
    patch.explanationImageKey = null;
  }
  if (d.imageView) patch.imageView = d.imageView;
  return patch;
}
