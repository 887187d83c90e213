// Between the store and the URL: apply an opened link, keep the hash in step with the inputs,
// build the link the Copy button copies.
import { type ImageInLink, imageLinkFields, imagePatchFromLink } from '../slices/image-slice';
import { analysisLinkFields, analysisPatchFromLink } from './analysis-link';
import { modelKey, needsDownloadConsent } from '../model-catalog';
import { type DecodedShare, decodeShare, encodeInputs, encodeShare, readLocationHash, replaceLocationHash, shareUrl } from './share-codec';
import { type AppState, type AppStore, safeLocalStorage } from '../slices/store';

/** Links with scores stay under this size; bigger ones go without scores. */
export const SHARE_LINK_BUDGET = 8 * 1024;

export function applyDecodedShare(store: AppStore, d: DecodedShare): void {
  const s = d.state;
  const patch: Partial<AppState> = {};
  if (d.problems.length) patch.notices = [...store.getState().notices, ...d.problems];
  if (s.model) {
    patch.modelChoice = s.model;
    patch.folderFiles = null;
    patch.pendingModel = needsDownloadConsent(s.model) ? s.model : null;
  }
  if (s.backend) patch.backend = s.backend;
  if (s.prompt !== undefined) patch.prompt = s.prompt;
  if (s.target !== undefined) patch.target = s.target;
  if (s.settings) patch.settings = s.settings;
  if (s.prompt !== undefined || s.target !== undefined) patch.generation = null;
  Object.assign(patch, imagePatchFromLink(s));
  Object.assign(patch, analysisPatchFromLink(s));
  if (s.explanation) {
    patch.explanation = s.explanation;
    patch.explanationModelKey = modelKey(s.model ?? store.getState().modelChoice);
    patch.explanationFromLink = true;
    patch.selectedUnit = null;
    patch.selectedTarget = null;
  }
  store.setState(patch);
}

// The hash this page last wrote. A reload shows that same hash while the saved state may be a
// keystroke newer (the hash is written after a short pause): then the saved state wins.
const LAST_HASH_KEY = 'atman.app.lastHash';

/** Reads the page's hash once at start-up and applies it, unless it is this page's own (a reload). */
export async function openLinkFromLocation(store: AppStore, opts: { allowFixtures: boolean }): Promise<boolean> {
  const hash = readLocationHash();
  if (hash.replace(/^#/, '') === '') return false;
  if (hash === safeLocalStorage().getItem(LAST_HASH_KEY)) return false;
  applyDecodedShare(store, await decodeShare(hash, opts));
  return true;
}

const sharedInputs = (s: AppState) => {
  const { inLink: _inLink, ...image } = imageLinkFields(s);
  return { model: s.modelChoice, backend: s.backend, prompt: s.prompt, target: s.target, settings: s.settings, ...image };
};

/** Keeps the hash equal to the current inputs (without scores), replacing the history entry. */
export function startUrlSync(store: AppStore, opts: { allowFixtures: boolean }, delayMs = 300): () => void {
  // A link pasted into the address bar of an open page arrives as a hash change.
  const onHashChange = () => void openLinkFromLocation(store, opts);
  if (typeof addEventListener === 'function') addEventListener('hashchange', onHashChange);
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last = '';
  const write = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const hash = encodeInputs(sharedInputs(store.getState()));
    replaceLocationHash(hash);
    void safeLocalStorage().setItem(LAST_HASH_KEY, hash);
  };
  const unsub = store.subscribe((s) => {
    const key = JSON.stringify(sharedInputs(s));
    if (key === last) return;
    last = key;
    if (timer) clearTimeout(timer);
    timer = setTimeout(write, delayMs);
  });
  write();
  return () => {
    unsub();
    if (timer) clearTimeout(timer);
    if (typeof removeEventListener === 'function') removeEventListener('hashchange', onHashChange);
  };
}

export interface ShareLink {
  url: string;
  /** 'all': scores and factors; 'scores': without the factors; 'none': inputs only */
  scores: 'all' | 'scores' | 'none';
  /** how the picture travels: in full, reduced, by address, not at all ('not-in-link'), or there is none */
  image: ImageInLink;
}

/** The link for Copy link: with the result while it matches the inputs and stays under the budget. */
export async function buildShareLink(s: AppState, includeResult: boolean): Promise<ShareLink> {
  // Faithfulness numbers and steering ride along on every try; the comparison only on the first.
  const { comparison, ...analysis } = analysisLinkFields(s, includeResult);
  const base = { ...sharedInputs(s), ...analysis };
  const image = imageLinkFields(s).inLink;
  // An inline picture does not eat into the scores' budget.
  const budget = SHARE_LINK_BUDGET + (base.image?.kind === 'data' ? base.image.data.length : 0);
  const x = includeResult ? s.explanation : null;
  if (x) {
    const both = comparison ? shareUrl(await encodeShare({ ...base, explanation: x, comparison })) : null;
    if (both && both.length <= budget) return { url: both, scores: 'all', image };
    const full = shareUrl(await encodeShare({ ...base, explanation: x }));
    if (full.length <= budget) return { url: full, scores: 'all', image };
    const lean = shareUrl(await encodeShare({ ...base, explanation: { ...x, units: x.units.map((u) => ({ ...u, factors: [] })) } }));
    if (lean.length <= budget) return { url: lean, scores: 'scores', image };
  }
  return { url: shareUrl(await encodeShare(base)), scores: 'none', image };
}
