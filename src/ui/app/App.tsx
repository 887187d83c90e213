// The playground page: header, model, prompt and target, settings, run, results, share.
import { useEffect, useState, type DragEvent, type ReactNode } from 'react';
import { folderFromDrop } from '../../runtime-client/folder-files';
import { BUNDLED_MODELS } from '../../state/model-catalog';
import { BackendBadge } from './model/BackendBadge';
import { CachePanel } from './model/CachePanel';
import { ErrorBanner, Notices } from './ErrorBanner';
import { ModelPicker } from './model/ModelPicker';
import { applyChoice } from '../../state/bootstrap';
import { PromptEditor } from './PromptEditor';
import { ResultsPane } from './ResultsPane';
import { RunBar } from './RunBar';
import { SettingsPanel } from './SettingsPanel';
import { ShareBar } from './ShareBar';
import { useServices } from './app-context';
import { usePlanPreview } from './use-plan-preview';
import { ComparePanel } from '../compare/ComparePanel';
import { FaithfulnessPanel } from '../faithfulness/FaithfulnessPanel';
import { SteerPanel } from '../steer/SteerPanel';
import { isPictureDrop, setPicture } from '../image/prepare-image';
import { useImageUpkeep } from '../image/use-image-upkeep';
import { useApp } from './app-context';
import { selectExplanationFromLink } from '../../state/selectors';

export function App(): ReactNode {
  const { store, actions } = useServices();
  const [dropping, setDropping] = useState(false);
  usePlanPreview();
  useImageUpkeep();
  // A page opened from a share link shows the result first, and keeps that order for the visit:
  // moving the result back under the inputs on Recompute would make the page jump.
  const fromLink = useApp(selectExplanationFromLink);
  const [resultFirst, setResultFirst] = useState(false);
  useEffect(() => {
    if (fromLink) setResultFirst(true);
  }, [fromLink]);

  useEffect(() => {
    document.title = 'AtMan playground';
  }, []);

  const onDrop = (e: DragEvent) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    setDropping(false);
    // One picture dropped anywhere, for a model that reads pictures: the picture, not a model folder.
    const picture = store.getState().loaded?.info.acceptsImages ? isPictureDrop(e.dataTransfer) : null;
    if (picture) return void setPicture(store, picture, picture.name, 'drop');
    // The entries must be taken before this handler returns.
    folderFromDrop(e.dataTransfer.items).then(
      (folder) => {
        if (folder.files.length === 0) return;
        void applyChoice(store, actions, { kind: 'folder', name: folder.name || 'dropped folder' }, folder.files);
      },
      (err: unknown) => store.getState().setError({ code: 'MODEL_FILES_MISSING', message: `The dropped folder could not be read: ${(err as Error).message}` }),
    );
  };

  return (
    <div
      className={`app${dropping ? ' dropping' : ''}`}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes('Files')) {
          e.preventDefault();
          setDropping(true);
        }
      }}
      onDragLeave={(e) => e.currentTarget === e.target && setDropping(false)}
      onDrop={onDrop}
    >
      <header className="app-header">
        <h1>AtMan playground</h1>
        <p className="tagline">
          Which parts of the prompt does the model's answer depend on? Each unit is suppressed in every attention layer and the change in the target's
          cross-entropy is measured.
        </p>
        <BackendBadge />
      </header>
      <Notices />
      <ErrorBanner />
      <main className={`layout${resultFirst ? ' result-first' : ''}`} data-testid="layout" data-result-first={resultFirst ? 'true' : undefined}>
        <div className="inputs">
          <ModelPicker />
          <PromptEditor />
          <RunBar />
        </div>
        <div className="side">
          <SettingsPanel />
          <CachePanel />
        </div>
        <div className="outputs">
          <ResultsPane />
          <FaithfulnessPanel />
          <ComparePanel />
          <SteerPanel />
          <ShareBar />
        </div>
      </main>
      <footer className="muted">
        Runs entirely in your browser; the bundled model ({BUNDLED_MODELS[0]!.id}) needs no download. AtMan: Deiseroth et al., NeurIPS 2023.
      </footer>
      {dropping ? (
        <div className="drop-overlay" aria-hidden="true">
          Drop a model folder (config.json, tokenizer.json, onnx/model.onnx)
        </div>
      ) : null}
    </div>
  );
}
