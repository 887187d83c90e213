// Choose the model: bundled, test models (dev/test servers only), curated hub models with their
// download size, any hub id or URL, or a folder from disk (picker or drop). Local models load at
// once; downloads start on a click.
import { useEffect, useState, type ReactNode } from 'react';
import { folderFromInput } from '../../../runtime-client/folder-files';
import { applyChoice } from '../../../state/bootstrap';
import {
  BUNDLED_MODELS,
  CURATED_MODELS,
  FIXTURE_MODELS,
  type ModelChoice,
  choiceFromText,
  downloadSite,
  downloadSizeLabel,
  formatBytes,
  modelKey,
  modelLabel,
} from '../../../state/model-catalog';
import { type ServedModel, servedChoice, servedFor } from '../../../state/served-models';
import { selectBackend, selectFixturesAvailable, selectServedModels, selectLoadProgress, selectLoaded, selectModelChoice, selectPendingModel, selectStatus, selectVariants } from '../../../state/selectors';
import { variantsKey } from '../../../state/slices/model-slice';
import type { AppStore } from '../../../state/slices/store';
import type { Actions } from '../../../state/actions';
import type { BackendChoice } from '../../../protocol/engine-api';
import { useActions, useApp, useServices } from '../app-context';
import { ShapesDemoButton } from '../../image/ShapesDemoButton';
import { PrecisionSelect } from './PrecisionSelect';

const CUSTOM = 'custom';

export function selectValue(c: ModelChoice, served: readonly ServedModel[] = []): string {
  switch (c.kind) {
    case 'bundled':
    case 'fixture':
      return `${c.kind}:${c.id}`;
    case 'hub':
      return CURATED_MODELS.some((m) => m.repo === c.repo && m.dtype === c.dtype) ? `hub:${c.repo}|${c.dtype}` : CUSTOM;
    case 'url': {
      const m = servedFor(c, served);
      return m ? `served:${m.repo}` : CUSTOM;
    }
    case 'folder':
      return 'folder';
  }
}

function choiceFromValue(v: string): ModelChoice | null {
  const [kind, rest = ''] = [v.slice(0, v.indexOf(':')), v.slice(v.indexOf(':') + 1)];
  if (kind === 'bundled' || kind === 'fixture') return { kind, id: rest };
  if (kind === 'served') return servedChoice({ repo: rest });
  if (kind === 'hub') {
    const m = CURATED_MODELS.find((c) => `${c.repo}|${c.dtype}` === rest);
    return m ? { kind: 'hub', repo: m.repo, dtype: m.dtype } : null;
  }
  return null;
}


function LoadProgressLine(): ReactNode {
  const p = useApp(selectLoadProgress);
  const status = useApp(selectStatus);
  if (status !== 'loading') return null;
  const what = p?.stage === 'download' ? `Downloading ${p.file ?? ''}` : p ? `Preparing the model (${p.stage})` : 'Loading the model';
  const amount = p?.stage === 'download' ? `: ${formatBytes(p.loaded)}${p.total ? ` of ${formatBytes(p.total)}` : ''}` : '';
  return (
    <p className="muted" data-testid="load-progress" role="status">
      {what}
      {amount}
      {p?.stage === 'download' && p.total ? <progress value={p.loaded} max={p.total} aria-label="download progress" /> : null}
    </p>
  );
}

function ModelInfoLine(): ReactNode {
  const loaded = useApp(selectLoaded);
  const choice = useApp(selectModelChoice);
  const backend = useApp(selectBackend);
  if (!loaded || loaded.key !== `${modelKey(choice)}|${backend}`) return null;
  const i = loaded.info;
  return (
    <p className="muted" data-testid="model-info" data-info={JSON.stringify(i)}>
      Loaded {i.id} ({i.modelType}, {i.dtype}, {i.numLayers} layers, {i.attentionSites} attention sites controlled) on {i.device}
      {i.acceptsImages ? (i.layout === 'vision2seq' ? '; describes pictures (add one below)' : '; reads a picture (add one below)') : ''}
      {i.file ? (
        <>
          <br />
          <span data-testid="dtype-reason">
            {i.file}
            {i.dtypeReason ? `: ${i.dtypeReason}` : ''}
          </span>
        </>
      ) : null}
    </p>
  );
}

function DownloadConsent(): ReactNode {
  const pending = useApp(selectPendingModel);
  const { store, actions } = useServices();
  if (!pending) return null;
  // The host as the browser resolved it, not as the link spelled it.
  const site = downloadSite(pending);
  return (
    <div className="consent" data-testid="download-consent" data-host={site?.host ?? ''} role="group" aria-label="confirm download">
      <p>
        This link uses <strong>{modelLabel(pending)}</strong>, a download of {downloadSizeLabel(pending) ?? 'unknown size'} from{' '}
        {site?.place === 'hub' ? (
          <>
            the Hugging Face hub (<strong>{site.host}</strong>)
          </>
        ) : (
          <>
            <strong data-testid="download-host">{site?.host ?? 'another site'}</strong>, a site other than this one
            {site && site.href !== modelLabel(pending) ? (
              <>
                {' '}
                (<span className="consent-address">{site.href}</span>)
              </>
            ) : null}
          </>
        )}
        . Download it?
      </p>
      <button
        type="button"
        onClick={() => {
          store.setState({ pendingModel: null });
          void actions.loadModel();
        }}
      >
        Download and load
      </button>{' '}
      <button type="button" onClick={() => void applyChoice(store, actions, { kind: 'bundled', id: BUNDLED_MODELS[0]!.id })}>
        Use the demo model instead
      </button>
    </div>
  );
}

export function ModelPicker(): ReactNode {
  const choice = useApp(selectModelChoice);
  const fixtures = useApp(selectFixturesAvailable);
  const backend = useApp(selectBackend);
  const loaded = useApp(selectLoaded);
  const status = useApp(selectStatus);
  const { store } = useServices();
  const actions = useActions();
  const served = useApp(selectServedModels);
  const value = selectValue(choice, served);
  const [custom, setCustom] = useState(choice.kind === 'hub' ? choice.repo : choice.kind === 'url' ? choice.url : '');
  const [showCustom, setShowCustom] = useState(value === CUSTOM);
  useEffect(() => {
    setShowCustom(value === CUSTOM);
    // A precision picked for a hub model can turn a curated entry into a custom one: keep its id in the box.
    if (choice.kind === 'hub') setCustom(choice.repo);
  }, [value, modelKey(choice)]);
  const isLoaded = loaded?.key === `${modelKey(choice)}|${backend}`;
  const listed = useApp(selectVariants);
  const chosenBytes = listed?.key === variantsKey(choice, backend) ? listed.listing?.chosen?.bytes : undefined;
  const size = typeof chosenBytes === 'number' ? formatBytes(chosenBytes) : downloadSizeLabel(choice);

  const useCustom = () => {
    if (custom.trim()) void applyChoice(store, actions, choiceFromText(custom));
  };

  return (
    <section className="panel model-picker" aria-labelledby="model-heading">
      <h2 id="model-heading">Model</h2>
      <div className="row">
        <label>
          Model{' '}
          <select
            data-testid="model-select"
            value={showCustom ? CUSTOM : value}
            onChange={(e) => {
              const v = e.target.value;
              if (v === CUSTOM) return setShowCustom(true);
              setShowCustom(false);
              const c = choiceFromValue(v);
              if (c) void applyChoice(store, actions, c);
            }}
          >
            <optgroup label="Bundled (runs offline)">
              {BUNDLED_MODELS.map((m) => (
                <option key={m.id} value={`bundled:${m.id}`}>
                  {m.label}
                </option>
              ))}
            </optgroup>
            {served.length ? (
              <optgroup label="Served by this workshop (from the teacher's machine)">
                {served.map((m) => (
                  <option key={m.repo} value={`served:${m.repo}`}>
                    {m.repo} — {m.onnx.join(', ')}, {formatBytes(m.bytes)}
                  </option>
                ))}
              </optgroup>
            ) : null}
            {fixtures ? (
              <optgroup label="Test models (random weights)">
                {FIXTURE_MODELS.map((m) => (
                  <option key={m.id} value={`fixture:${m.id}`}>
                    {m.id} — {m.description}
                  </option>
                ))}
              </optgroup>
            ) : null}
            <optgroup label="Hugging Face hub (downloaded once, sizes approximate)">
              {CURATED_MODELS.map((m) => (
                <option key={`${m.repo}|${m.dtype}`} value={`hub:${m.repo}|${m.dtype}`}>
                  {m.label} — {m.repo}, {m.dtype}, ~{formatBytes(m.approxBytes)}; {m.note}
                </option>
              ))}
            </optgroup>
            <optgroup label="Other">
              <option value={CUSTOM}>Any hub id or URL…</option>
              {choice.kind === 'folder' ? <option value="folder">{modelLabel(choice)}</option> : null}
            </optgroup>
          </select>
        </label>
        <label>
          Backend{' '}
          <select data-testid="backend-select" value={backend} onChange={(e) => store.getState().setBackend(e.target.value as BackendChoice)}>
            <option value="auto">auto (WebGPU if available)</option>
            <option value="webgpu">WebGPU</option>
            <option value="wasm">WASM (CPU)</option>
          </select>
        </label>
      </div>
      <PrecisionSelect onChoose={(c) => void applyChoice(store, actions, c)} />
      {showCustom ? (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            useCustom();
          }}
        >
          <label>
            Hub id or URL{' '}
            <input data-testid="custom-model" value={custom} size={36} placeholder="owner/name or https://…/model/" onChange={(e) => setCustom(e.target.value)} />
          </label>{' '}
          <button type="submit">Use model</button>
        </form>
      ) : null}
      <div className="row">
        <label className="button-like">
          Open model folder…
          <input
            type="file"
            data-testid="folder-input"
            className="visually-hidden"
            multiple
            {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
            onChange={(e) => {
              const list = e.target.files;
              if (!list || list.length === 0) return;
              const folder = folderFromInput(list);
              void applyChoice(store, actions, { kind: 'folder', name: folder.name || 'folder' }, folder.files);
              e.target.value = '';
            }}
          />
        </label>
        <span className="muted"> or drop a model folder anywhere on the page.</span>
        <ShapesDemoButton />
        {!isLoaded && status === 'idle' ? (
          <button type="button" data-testid="load-model" onClick={() => void actions.loadModel()}>
            {size ? `Download and load (${size})` : 'Load model'}
          </button>
        ) : null}
      </div>
      <DownloadConsent />
      <LoadProgressLine />
      <ModelInfoLine />
    </section>
  );
}
