// One click to the paper's document-QA set-up; with the demo model it also fills a document,
// a question and its answer, says which sentence should come out on top, and explains it.
import { useState } from 'react';
import type { ReactNode } from 'react';
import { applyDocumentQaPreset, isDocumentQa } from '../../state/document-qa';
import { selectBusy, selectPrompt, selectSettings } from '../../state/selectors';
import { useActions, useApp, useServices } from '../app/app-context';

export function DocumentQaPreset(): ReactNode {
  const busy = useApp(selectBusy);
  const settings = useApp(selectSettings);
  const prompt = useApp(selectPrompt);
  const { store } = useServices();
  const actions = useActions();
  const [evidence, setEvidence] = useState<{ prompt: string; text: string } | null>(null);
  const on = isDocumentQa(settings);
  return (
    <div className="setting" data-testid="preset-document-qa-box">
      <button
        type="button"
        data-testid="preset-document-qa"
        aria-describedby="h-preset-docqa"
        aria-pressed={on}
        disabled={busy}
        onClick={() => {
          const ex = applyDocumentQaPreset(store);
          setEvidence(ex?.evidence ? { prompt: ex.prompt, text: ex.evidence } : null);
          // With the demo's document in place the click is a demo: the result follows at once.
          if (ex) void actions.explain();
        }}
      >
        Document QA
      </button>
      <span className="help" id="h-preset-docqa">
        The paper&apos;s set-up: sentence units fully suppressed (factor 0), whole target, conceptual suppression off. With the demo model it loads a document
        and its question, and explains them.
        {evidence && on && evidence.prompt === prompt ? (
          <span data-testid="preset-evidence"> Expected on top: "{evidence.text}".</span>
        ) : null}
      </span>
    </div>
  );
}
