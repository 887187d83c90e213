// The prompt's text box: how many of the model's positions the prompt and target take, and a
// paste that would make the prompt longer than the app keeps is stopped with a message instead of
// freezing the page (and the worker's tokenizer) on a whole document.
import { type ClipboardEvent, type ReactNode, useState } from 'react';
import { LIMITS } from '../../state/sanitize';
import { selectLoaded, selectPlan, selectPrompt, selectStarting } from '../../state/selectors';
import { useApp, useServices } from './app-context';

const fmt = (n: number) => n.toLocaleString('en');

export function PromptBox(): ReactNode {
  const prompt = useApp(selectPrompt);
  const starting = useApp(selectStarting);
  const plan = useApp(selectPlan);
  const loaded = useApp(selectLoaded);
  const { store } = useServices();
  const [note, setNote] = useState<string | null>(null);
  const context = loaded?.info.maxPositions ?? null;

  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>): void => {
    const pasted = e.clipboardData.getData('text/plain');
    const box = e.currentTarget;
    const length = prompt.length - (box.selectionEnd - box.selectionStart) + pasted.length;
    if (length <= LIMITS.prompt) {
      setNote(null);
      return;
    }
    e.preventDefault();
    setNote(
      `Not pasted: that would make the prompt ${fmt(length)} characters long, and the prompt box takes at most ${fmt(LIMITS.prompt)}` +
        `${context ? ` (this model reads at most ${fmt(context)} tokens)` : ''}. Paste a shorter part.`,
    );
  };

  // The model reads every token but the target's last (it is only predicted).
  const read = plan ? plan.tokens.length - 1 : null;
  return (
    <>
      <textarea
        id="prompt"
        data-testid="prompt"
        rows={6}
        value={prompt}
        placeholder={starting ? 'Loading the example…' : 'The text to explain: a document and a question, say'}
        spellCheck={false}
        maxLength={LIMITS.prompt}
        onPaste={onPaste}
        onChange={(e) => {
          setNote(null);
          store.getState().setPrompt(e.target.value);
        }}
      />
      <p className="muted" data-testid="prompt-length" aria-live="polite">
        {read !== null && context !== null
          ? `${fmt(read)} of the model's ${fmt(context)} tokens (prompt and target)${read > context ? ': too long, shorten the prompt' : ''}.`
          : `${fmt(prompt.length)} of ${fmt(LIMITS.prompt)} characters${context !== null ? `; the model reads up to ${fmt(context)} tokens` : ''}.`}
      </p>
      {note ? (
        <p className="error-banner" role="alert" data-testid="prompt-paste-refused">
          {note}
        </p>
      ) : null}
    </>
  );
}
