// Models the browser keeps after downloading them (Cache Storage), with their sizes.
import type { ReactNode } from 'react';
import { formatBytes } from '../../../state/model-catalog';
import { selectCached } from '../../../state/selectors';
import { useActions, useApp } from '../app-context';

export function CachePanel(): ReactNode {
  const cached = useApp(selectCached);
  const actions = useActions();
  const total = cached.reduce((a, c) => a + c.bytes, 0);
  return (
    <details className="panel cache-panel" data-testid="cache-panel" onToggle={(e) => (e.currentTarget as HTMLDetailsElement).open && void actions.refreshCache()}>
      <summary>
        Downloaded models ({cached.length}, {formatBytes(total)})
      </summary>
      {cached.length === 0 ? (
        <p className="muted">No downloaded models are kept in this browser.</p>
      ) : (
        <ul>
          {cached.map((c) => (
            <li key={c.id}>
              {c.id}: {c.files} files, {formatBytes(c.bytes)}{' '}
              <button type="button" aria-label={`Clear ${c.id} from the cache`} onClick={() => void actions.clearCache(c.id)}>
                Clear
              </button>
            </li>
          ))}
        </ul>
      )}
      {cached.length > 1 ? (
        <button type="button" onClick={() => void actions.clearCache()}>
          Clear all
        </button>
      ) : null}
    </details>
  );
}
