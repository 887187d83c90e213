// One click to the paper's document-QA set-up; with the demo model it also fills a document,
// a question and its answer, and says which sentence should come out on top.
import { useState } from 'react';
import type { ReactNode } from 'react';
import { applyDocumentQaPreset, isDocumentQa } from '../../state/document-qa';
import { selectBusy, selectPrompt, selectSettings } from '../../state/selectors';
import { useApp, useServices } from '../app/app-context';

export function DocumentQaPreset(): ReactNode {
  const busy = useApp(selectBusy);
  const settings = useApp(selectSettings);
  const prompt = useApp(selectPrompt);
  const { store } = useServices();
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
        }}
      >
        Document QA
      </button>
      <span className="help" id="h-preset-docqa">
        The paper's set-up: document + question as the prompt, the answer as the target; sentence units fully suppressed (factor 0, multiplicative), whole target,
        conceptual suppression off. With the demo model it fills an example.
        {evidence && on && evidence.prompt === prompt ? (
          <span data-testid="preset-evidence"> Expected on top: "{evidence.text}".</span>
        ) : null}
      </span>
    </div>
  );
}
