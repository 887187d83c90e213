// Copy link (with the scores while they fit in ~8 KB) and the exports.
import { useState, type ReactNode } from 'react';
import { selectExplanation, selectSelectedTarget, selectStaleReason } from '../../state/selectors';
import { buildShareLink } from '../../state/links/share-sync';
import { selectPrimaryFaithfulness } from '../../state/slices/compare-slice';
import { imageLinkNote } from '../image/image-link-note';
import { downloadBlob, exportJson, exportPng, exportSvg, fileStem, heatmapSvg } from '../results/export-view';
import { useApp, useServices } from './app-context';

export function ShareBar(): ReactNode {
  const x = useApp(selectExplanation);
  const stale = useApp(selectStaleReason);
  const target = useApp(selectSelectedTarget);
  const { store } = useServices();
  const [link, setLink] = useState<{ url: string; note: string } | null>(null);

  const copy = async () => {
    // A stale result would not match the inputs in the link, so it stays out.
    const l = await buildShareLink(store.getState(), stale === null);
    const note =
      l.scores === 'all' ? 'Link copied, with the scores.' : l.scores === 'scores' ? 'Link copied, with the scores (without drag-along factors, to stay short).' : x && stale === null ? 'Link copied without the scores (too long for a link); the receiver clicks Explain.' : 'Link copied (inputs and settings).';
    const imageNote = imageLinkNote(l.image);
    try {
      await navigator.clipboard.writeText(l.url);
      setLink({ url: l.url, note: `${note}${imageNote}` });
    } catch {
      setLink({ url: l.url, note: `Copy the link below (the clipboard is not available here).${imageNote}` });
    }
  };
  const stem = x ? fileStem(x) : 'atman';

  return (
    <section className="share-bar" aria-label="share and export">
      <button type="button" data-testid="copy-link" onClick={() => void copy()}>
        Copy link
      </button>
      <button type="button" data-testid="export-json" disabled={!x} onClick={() => x && downloadBlob(exportJson(x, selectPrimaryFaithfulness(store.getState())), `${stem}.json`)}>
        Export JSON
      </button>
      <button
        type="button"
        data-testid="export-png"
        disabled={!x}
        onClick={() =>
          x &&
          exportPng(heatmapSvg(x, { targetIndex: target }), 2).then(
            (b) => downloadBlob(b, `${stem}.png`),
            (e: unknown) => store.getState().setError({ code: 'EXPORT_FAILED', message: `The PNG could not be made: ${(e as Error).message}` }),
          )
        }
      >
        Export PNG
      </button>
      <button type="button" data-testid="export-svg" disabled={!x} onClick={() => x && downloadBlob(exportSvg(heatmapSvg(x, { targetIndex: target })), `${stem}.svg`)}>
        Export SVG
      </button>
      {link ? (
        <span className="share-link" role="status">
          <span className="muted">{link.note}</span>{' '}
          <input readOnly data-testid="share-url" aria-label="share link" value={link.url} onFocus={(e) => e.target.select()} />
        </span>
      ) : null}
    </section>
  );
}
