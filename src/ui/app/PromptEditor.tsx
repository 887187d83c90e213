// The prompt, the target (typed, or generated and then selected), and the example list.
import type { ReactNode } from 'react';
import { selectBusy, selectExamples, selectGenerateCount, selectPrompt, selectStarting, selectStatus, selectTarget } from '../../state/selectors';
import { useActions, useApp, useServices } from './app-context';
import { GeneratedChips } from './GeneratedChips';
import { TokenPreview } from './TokenPreview';
import { ImageInput } from '../image/ImageInput';
import { PromptBox } from './PromptBox';

export function PromptEditor(): ReactNode {
  const prompt = useApp(selectPrompt);
  const target = useApp(selectTarget);
  const examples = useApp(selectExamples);
  const n = useApp(selectGenerateCount);
  const busy = useApp(selectBusy);
  const status = useApp(selectStatus);
  const starting = useApp(selectStarting);
  const { store } = useServices();
  const actions = useActions();
  const st = store.getState();

  return (
    <section className="panel prompt-editor" aria-labelledby="prompt-heading">
      <h2 id="prompt-heading">Prompt and target</h2>
      {examples.length > 0 ? (
        <label className="row">
          Example{' '}
          <select
            data-testid="example-select"
            value={examples.findIndex((e) => e.prompt === prompt && e.target === target)}
            onChange={(e) => {
              const ex = examples[Number(e.target.value)];
              if (ex) store.setState({ prompt: ex.prompt, target: ex.target, generation: null });
            }}
          >
            <option value={-1} disabled>
              (your own text)
            </option>
            {examples.map((e, i) => (
              <option key={i} value={i}>
                {i + 1}. {exampleLabel(e.prompt)} → {e.target}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <ImageInput />
      <label htmlFor="prompt" className="block-label">
        Prompt
      </label>
      <PromptBox />
      <div className="row target-row">
        <label htmlFor="target">Target</label>
        <input id="target" data-testid="target" value={target} spellCheck={false} onChange={(e) => st.setTarget(e.target.value)} />
        <span className="muted">or</span>
        <button type="button" data-testid="generate" onClick={() => void actions.generate()} disabled={busy}>
          {status === 'generating' ? 'Generating…' : 'Generate'}
        </button>
        <label>
          <input
            type="number"
            data-testid="generate-count"
            aria-label="tokens to generate"
            min={1}
            max={200}
            value={n}
            onChange={(e) => st.setGenerateCount(Number(e.target.value))}
            className="narrow"
          />{' '}
          tokens (greedy)
        </label>
      </div>
      <GeneratedChips />
      <TokenPreview />
    </section>
  );
}

/** The question is what tells examples apart: show it whole, and the start of the document before it. */
function exampleLabel(prompt: string, width = 70): string {
  const text = prompt.replace(/\s+/g, ' ').trim();
  if (text.length <= width) return text;
  const cut = text.lastIndexOf('. ', text.length - 1);
  const question = cut >= 0 ? text.slice(cut + 2) : text.slice(-width);
  const room = Math.max(0, width - question.length - 2);
  return `${text.slice(0, room).replace(/\s+\S*$/, '')}… ${question}`;
}
