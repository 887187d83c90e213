// The picture for a vision-language model: choose a file, drop or paste one, or load an address;
// the chosen picture with its size, and a button to remove it. Shown when the loaded model reads
// pictures (or a picture is already set, e.g. by a link, while the model is still loading).
import { useEffect, useState, type DragEvent, type ReactNode } from 'react';
import { formatBytes } from '../../state/model-catalog';
import { resolveAddress } from '../../state/link-targets';
import { modelReadsImages } from '../../state/slices/image-slice';
import { useActions, useApp, useServices } from '../app/app-context';
import { clearPicture, pictureFile, pictureFromUrl, setPicture } from './prepare-image';
import { SHAPES_DEMO_ID, type ShapesExample, exampleImageUrl, exampleLabel, fetchShapesExamples, loadShapesExample } from './shapes-demo';
import { useObjectUrl } from './use-object-url';
import './image.css';

const FORMAT_HINT = 'PNG, JPEG, WebP, GIF, BMP, AVIF or TIFF';

export function ImageInput(): ReactNode {
  const image = useApp((s) => s.image);
  const pending = useApp((s) => s.imagePending);
  const loadingUrl = useApp((s) => s.imageLoading);
  const reads = useApp(modelReadsImages);
  const loaded = useApp((s) => s.loaded);
  const layout = useApp((s) => s.loaded?.info.layout);
  const busy = useApp((s) => s.status !== 'idle');
  const { store } = useServices();
  const [url, setUrl] = useState('');
  const [over, setOver] = useState(false);
  const src = useObjectUrl(image?.blob);

  if (!reads && !image && !pending) return null;

  const take = (file: File | null, origin: 'file' | 'drop') => {
    if (file) setPicture(store, file, file.name, origin);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    // The page's own drop handler would take the file for a model folder.
    e.stopPropagation();
    setOver(false);
    const file = pictureFile(e.dataTransfer?.files);
    if (file) take(file, 'drop');
    else {
      const link = e.dataTransfer?.getData('text/uri-list') || e.dataTransfer?.getData('text/plain');
      if (link && /^https?:\/\//i.test(link.trim())) void pictureFromUrl(store, link.trim().split(/\s/)[0]!);
    }
  };

  return (
    <section className="image-input" data-testid="image-input" aria-labelledby="image-heading">
      <h3 id="image-heading" className="block-label">
        Image
      </h3>
      {loaded && !reads && image ? (
        <p className="muted" data-testid="image-unused">
          The loaded model reads text only; this picture is not used.
        </p>
      ) : null}
      <div
        className={`image-drop${over ? ' over' : ''}`}
        data-testid="image-drop"
        onDragOver={(e) => {
          if (e.dataTransfer?.types.includes('Files') || e.dataTransfer?.types.includes('text/uri-list')) {
            e.preventDefault();
            e.stopPropagation();
            setOver(true);
          }
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        {image ? (
          <figure className="image-preview">
            {src ? <img src={src} alt={`the chosen picture, ${image.name}`} data-testid="image-preview" /> : null}
            <figcaption data-testid="image-info">
              <strong>{image.name}</strong>
              {image.width && image.height ? ` · ${image.width} × ${image.height} px` : ' · size not known (this browser cannot show it; the engine will check it)'}
              {` · ${formatBytes(image.blob.size)}`}
              {image.url ? <span className="muted"> · from {image.url}</span> : null}{' '}
              <button type="button" data-testid="image-clear" onClick={() => clearPicture(store)} disabled={busy}>
                Remove image
              </button>
            </figcaption>
          </figure>
        ) : (
          <p className="muted image-hint">
            Drop a picture here, paste one (Ctrl+V), or choose a file ({FORMAT_HINT}).
            {layout === 'vision2seq' ? ' This model describes pictures: it needs one to explain.' : ''}
          </p>
        )}
      </div>
      <div className="row">
        <label className="button-like">
          {image ? 'Choose another image…' : 'Choose image…'}
          <input
            type="file"
            accept="image/*"
            data-testid="image-file"
            className="visually-hidden"
            onChange={(e) => {
              take(e.target.files?.[0] ?? null, 'file');
              e.target.value = '';
            }}
          />
        </label>
        <form
          className="row image-url-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (url.trim()) void pictureFromUrl(store, url.trim());
          }}
        >
          <label>
            or address{' '}
            <input data-testid="image-url" value={url} size={28} placeholder="https://…/picture.png" onChange={(e) => setUrl(e.target.value)} />
          </label>{' '}
          <button type="submit" data-testid="image-url-load" disabled={!url.trim() || loadingUrl !== null}>
            {loadingUrl !== null ? 'Loading…' : 'Load'}
          </button>
        </form>
      </div>
      {pending ? (
        <div className="consent" data-testid="image-pending" role="group" aria-label="load the linked image">
          <p>
            This link's picture is at <span className="consent-address">{pending.url}</span>
            {pending.ask ? (
              <>
                , on <strong data-testid="image-pending-host">{resolveAddress(pending.url)?.host ?? 'another site'}</strong>, a site other than this one.
              </>
            ) : (
              '.'
            )}{' '}
            Load it?
          </p>
          <button type="button" data-testid="image-pending-load" onClick={() => void pictureFromUrl(store, pending.url, 'url', pending.name)} disabled={loadingUrl !== null}>
            Load the image
          </button>{' '}
          <button type="button" onClick={() => store.setState({ imagePending: null })}>
            Not now
          </button>
        </div>
      ) : null}
      <ShapesExamples />
    </section>
  );
}

/** The demo's example pictures, when the demo model is the chosen one. */
function ShapesExamples(): ReactNode {
  const choice = useApp((s) => s.modelChoice);
  const image = useApp((s) => s.image);
  const prompt = useApp((s) => s.prompt);
  const { store } = useServices();
  const actions = useActions();
  const onDemo = choice.kind === 'bundled' && choice.id === SHAPES_DEMO_ID;
  const [list, setList] = useState<ShapesExample[]>([]);
  useEffect(() => {
    if (!onDemo) return;
    let live = true;
    void fetchShapesExamples().then((l) => live && setList(l));
    return () => {
      live = false;
    };
  }, [onDemo]);
  if (!onDemo || list.length === 0) return null;
  const current = list.findIndex((e) => image?.url === exampleImageUrl(e) && e.prompt === prompt);
  return (
    <label className="row">
      Example picture{' '}
      <select data-testid="shapes-example" value={current} onChange={(e) => void loadShapesExample(store, actions, list[Number(e.target.value)])}>
        <option value={-1} disabled>
          (your own picture)
        </option>
        {list.map((e, i) => (
          <option key={i} value={i}>
            {i + 1}. {exampleLabel(e)}
          </option>
        ))}
      </select>
    </label>
  );
}
