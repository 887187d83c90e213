// The generated tokens as chips: click-and-drag (or shift+arrows) selects the target span.
import { useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { selectGeneration } from '../../state/selectors';
import { useApp, useServices } from './app-context';

const show = (t: string): string => t.replace(/\n/g, '⏎').replace(/ /g, '·') || '∅';

export function GeneratedChips(): ReactNode {
  const g = useApp(selectGeneration);
  const { store } = useServices();
  const [anchor, setAnchor] = useState<number | null>(null);
  const dragging = useRef(false);
  if (!g || g.tokens.length === 0) return null;
  const [a, b] = g.selection;
  const select = (first: number, last: number) => store.getState().selectGenerated(first, last);

  const onKey = (e: KeyboardEvent) => {
    const n = g.tokens.length;
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    if (e.shiftKey) {
      // Shift+arrows move the span's far end; the near end stays.
      const fixed = anchor ?? a;
      const moving = fixed === a ? b : a;
      select(fixed, Math.max(0, Math.min(n - 1, moving + step)));
      setAnchor(fixed);
    } else {
      const i = Math.max(0, Math.min(n - 1, (step > 0 ? b : a) + step));
      select(i, i);
      setAnchor(i);
    }
  };

  return (
    <div className="generation">
      <p className="muted" id="chips-help">
        Generated: drag over the tokens (or use shift+arrow keys) to choose the target. Tokens before the selection join the prompt.
      </p>
      <div
        className="chips"
        role="listbox"
        aria-multiselectable="true"
        aria-label="generated tokens; the selected ones are the target"
        aria-describedby="chips-help"
        tabIndex={0}
        data-testid="generated-chips"
        onKeyDown={onKey}
        onPointerUp={() => (dragging.current = false)}
        onPointerLeave={() => (dragging.current = false)}
      >
        {g.tokens.map((t, i) => (
          <span
            key={i}
            role="option"
            aria-selected={i >= a && i <= b}
            data-testid="generated-chip"
            className={`chip${i >= a && i <= b ? ' selected' : ''}`}
            onPointerDown={(e) => {
              e.preventDefault();
              dragging.current = true;
              setAnchor(i);
              select(i, i);
            }}
            onPointerEnter={() => {
              if (dragging.current && anchor !== null) select(anchor, i);
            }}
          >
            {show(t.text)}
          </span>
        ))}
      </div>
    </div>
  );
}
