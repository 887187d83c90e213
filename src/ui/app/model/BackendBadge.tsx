// Which backend runs the passes: the WebGPU adapter's name, or why it is WASM.
import type { ReactNode } from 'react';
import { selectProbe } from '../../../state/selectors';
import { useApp } from '../app-context';

export function BackendBadge(): ReactNode {
  const probe = useApp(selectProbe);
  const state = probe === null ? 'pending' : probe.webgpu ? 'webgpu' : 'wasm';
  const text = probe === null ? 'probing backend…' : probe.webgpu ? `WebGPU: ${probe.adapter}` : `WASM — WebGPU unavailable: ${probe.reason ?? 'unknown reason'}`;
  return (
    <span className={`badge badge-${state}`} data-testid="backend-badge" data-state={state} data-probe={probe ? JSON.stringify(probe) : undefined} role="status">
      {text}
    </span>
  );
}
