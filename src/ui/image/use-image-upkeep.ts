// Page-wide picture chores, mounted once by the app: finish pictures that arrived without their
// size or copies (a share link, a reload), fetch a link's picture from this site, keep the
// '<image>' marker in the prompt of in-sequence models, and take pictures pasted anywhere.
import { useEffect } from 'react';
import { imageInPrompt, modelReadsImages, withImageMarker } from '../../state/slices/image-slice';
import type { AppState, AppStore } from '../../state/slices/store';
import { useServices } from '../app/app-context';
import { completeImage, pictureFile, pictureFromUrl, setPicture } from './prepare-image';

export function useImageUpkeep(): void {
  const { store } = useServices();
  useEffect(() => startImageUpkeep(store), [store]);
}

/** The chores as a store subscription (returns the unsubscribe); also used by tests. */
export function startImageUpkeep(store: AppStore, doc: Document | null = typeof document === 'undefined' ? null : document): () => void {
  const completing = new Set<string>();
  const fetched = new Set<string>();
  let lastMarkerKey: string | null = null;
  const onState = (s: AppState) => {
    const img = s.image;
    if (img && !completing.has(img.key) && (img.width === null || img.linkCopy === undefined || img.saved === undefined)) {
      completing.add(img.key);
      void completeImage(store, img);
    }
    const pending = s.imagePending;
    if (pending && !pending.ask && !fetched.has(pending.url) && s.imageLoading === null) {
      fetched.add(pending.url);
      void pictureFromUrl(store, pending.url, 'url', pending.name);
    }
    // A model that reads the picture in its prompt needs the marker; the engine would add it at
    // the start anyway, and the result's prompt should match the one shown.
    // Only when the picture or the model changes: a user moving the marker by cut and paste is left alone.
    const markerKey = img && imageInPrompt(s) ? `${img.key}|${s.loaded?.key}` : null;
    if (markerKey !== lastMarkerKey) {
      lastMarkerKey = markerKey;
      if (markerKey && !s.prompt.includes('<image>')) store.setState({ prompt: withImageMarker(s.prompt), generation: null });
    }
  };
  const unsub = store.subscribe(onState);
  onState(store.getState());

  const onPaste = (e: ClipboardEvent) => {
    const s = store.getState();
    if (!modelReadsImages(s)) return;
    const file = pictureFile(e.clipboardData?.files);
    if (!file || !/^image\//.test(file.type)) return;
    // Text pasted into a text field stays text; a picture on its own is taken anywhere.
    const hasText = (e.clipboardData?.types ?? []).includes('text/plain');
    const el = e.target as HTMLElement | null;
    const inField = !!el && (el.tagName === 'TEXTAREA' || el.tagName === 'INPUT' || el.isContentEditable);
    if (hasText && inField) return;
    e.preventDefault();
    setPicture(store, file, file.name && file.name !== 'image.png' ? file.name : 'pasted image', 'paste');
  };
  doc?.addEventListener('paste', onPaste);
  return () => {
    unsub();
    doc?.removeEventListener('paste', onPaste);
  };
}
