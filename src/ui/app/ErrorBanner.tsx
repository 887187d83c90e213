// The last failure in words, with its code for tests and bug reports; and what a link or the
// saved state could not restore. Both are plain text.
import type { ReactNode } from 'react';
import { selectError, selectNotices } from '../../state/selectors';
import { useApp, useServices } from './app-context';

const HINTS: Record<string, string> = {
  FUSED_ATTENTION_MULTIPLICATIVE: 'Switch the mode to log-additive in the settings.',
  FP16_UNSUPPORTED: 'Pick a fp32, 8-bit or 4-bit variant of the model.',
  MODEL_FILES_MISSING: 'Check the model id or folder: it needs config.json, tokenizer.json and onnx/model.onnx.',
};

export function ErrorBanner(): ReactNode {
  const error = useApp(selectError);
  const { store } = useServices();
  if (!error) return <div role="alert" data-testid="error" className="error-banner empty" />;
  const hint = HINTS[error.code];
  return (
    <div role="alert" data-testid="error" data-error-code={error.code} className={`error-banner${error.code === 'CANCELLED' ? ' info' : ''}`}>
      <span className="error-text">
        {error.message}
        {hint ? ` ${hint}` : ''}
      </span>{' '}
      <span className="muted">({error.code})</span>
      <button type="button" className="link-button" aria-label="Dismiss the message" onClick={() => store.getState().setError(null)}>
        Dismiss
      </button>
    </div>
  );
}

export function Notices(): ReactNode {
  const notices = useApp(selectNotices);
  const { store } = useServices();
  if (notices.length === 0) return null;
  return (
    <div role="status" data-testid="notices" className="notice-banner">
      <ul>
        {notices.map((n, i) => (
          <li key={i}>{n}</li>
        ))}
      </ul>
      <button type="button" className="link-button" onClick={() => store.getState().dismissNotices()}>
        Dismiss
      </button>
    </div>
  );
}
