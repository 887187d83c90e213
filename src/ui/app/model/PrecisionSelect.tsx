// The precision (ONNX variant) of a hub model: "auto" lets the engine pick by backend and adapter
// from what the repository has; once the repository's file list is read (no weights), its real
// variants are offered with their sizes, and the choice auto would make is shown with its reason.
import { useEffect, type ReactNode } from 'react';
import type { ModelDtype } from '../../../protocol/engine-api';
import { DTYPES, type ModelChoice, formatBytes, modelKey } from '../../../state/model-catalog';
import { variantsKey } from '../../../state/slices/model-slice';
import { selectBackend, selectModelChoice, selectPendingModel, selectVariants } from '../../../state/selectors';
import { useActions, useApp } from '../app-context';

const size = (b: number | null): string => (b === null ? 'size unknown' : formatBytes(b));

export function PrecisionSelect({ onChoose }: { onChoose: (c: ModelChoice) => void }): ReactNode {
  const choice = useApp(selectModelChoice);
  const backend = useApp(selectBackend);
  const pending = useApp(selectPendingModel);
  const listed = useApp(selectVariants);
  const actions = useActions();
  const hub = choice.kind === 'hub';
  // A link's outside model is not contacted before the user agrees to download it.
  useEffect(() => {
    if (hub && !pending) void actions.listVariants();
  }, [hub, pending, modelKey(choice), backend]);
  if (choice.kind !== 'hub') return null;
  const mine = listed?.key === variantsKey(choice, backend) ? listed : null;
  const variants = mine?.listing?.variants ?? [];
  const chosen = mine?.listing?.chosen ?? null;
  const asked = choice.dtype;
  return (
    <div className="row">
      <label>
        Precision{' '}
        <select
          data-testid="dtype-select"
          value={asked ?? 'auto'}
          onChange={(e) => {
            const v = e.target.value;
            onChoose(v === 'auto' ? { kind: 'hub', repo: choice.repo } : { kind: 'hub', repo: choice.repo, dtype: v as ModelDtype });
          }}
        >
          <option value="auto">auto{!asked && chosen ? ` (${chosen.dtype}, ${size(chosen.bytes)})` : ' (by backend and what the repository has)'}</option>
          {variants.map((v) => (
            <option key={v.dtype} value={v.dtype}>
              {v.dtype}, {size(v.bytes)}
            </option>
          ))}
          {asked && !variants.some((v) => v.dtype === asked) ? <option value={asked}>{asked}{mine?.listing ? ' (not in this repository)' : ''}</option> : null}
          {/* Unlisted (offline, or a refusal): every dtype, for the user to override by hand. */}
          {!mine?.listing
            ? DTYPES.filter((d) => d !== asked).map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))
            : null}
        </select>
      </label>{' '}
      <span className="muted" data-testid="dtype-choice" role="status">
        {mine === null || (mine.listing === null && mine.error === null)
          ? pending
            ? ''
            : 'Listing the repository…'
          : mine.error
            ? mine.error
            : chosen
              ? `Loads ${chosen.file} (${size(chosen.bytes)}): ${chosen.reason}`
              : (mine.listing?.problem ?? '')}
      </span>
    </div>
  );
}
