// "Try the shapes demo": the bundled vision-language model with one of its example pictures,
// its question and its answer as the target, ready to explain.
import { type ReactNode } from 'react';
import { useActions, useApp, useServices } from '../app/app-context';
import { loadShapesExample, shapesDemoAvailable } from './shapes-demo';

export function ShapesDemoButton(): ReactNode {
  const { store } = useServices();
  const actions = useActions();
  const busy = useApp((s) => s.status !== 'idle');
  if (!shapesDemoAvailable()) return null;
  return (
    <button
      type="button"
      data-testid="try-shapes-demo"
      disabled={busy}
      title="Loads the bundled picture model, an example picture of coloured shapes, its question and its answer, and explains it with token units"
      onClick={() => void loadShapesExample(store, actions, undefined, { run: true })}
    >
      Try the shapes demo (image)
    </button>
  );
}
