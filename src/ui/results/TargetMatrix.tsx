// Mounts createTargetMatrix on an <svg> through a ref: per-token targets, R[u,t] as a matrix.
import { useEffect, useMemo, useRef } from 'react';
import type { ReactNode } from 'react';
import type { Explanation } from '../../runtime/schema';
import { canAffect, targetTokens, tokenLabel, unitLabel } from './score-view';
import { createTargetMatrix } from './target-matrix';
import type { TargetMatrixData } from './target-matrix';
import type { Chart } from './top-units-chart';

export interface TargetMatrixProps {
  explanation: Explanation;
  selectedTarget?: number | null;
  selectedUnit?: number | null;
  /** a row label was clicked: show target token t's own explanation */
  onSelectTarget?: (t: number) => void;
  /** a cell or column label was clicked */
  onSelectUnit?: (unit: number) => void;
}

/** Rows, columns, values and the causal mask of an explanation's R matrix. */
export function matrixData(x: Explanation): Omit<TargetMatrixData, 'selectedTarget' | 'selectedUnit'> {
  const rows = targetTokens(x).map(tokenLabel);
  const cols = x.units.map((u) => unitLabel(u.label));
  const values = rows.map((_r, t) => x.units.map((u) => u.perTarget[t] ?? NaN));
  const causal = rows.map((_r, t) => x.units.map((_u, u) => canAffect(x, u, t)));
  return { rows, cols, values, causal };
}

export function TargetMatrix({ explanation, selectedTarget = null, selectedUnit = null, onSelectTarget, onSelectUnit }: TargetMatrixProps): ReactNode {
  const ref = useRef<SVGSVGElement>(null);
  const chart = useRef<Chart<TargetMatrixData> | null>(null);
  const cb = useRef({ onSelectTarget, onSelectUnit });
  cb.current = { onSelectTarget, onSelectUnit };

  useEffect(() => {
    const c = createTargetMatrix(ref.current!, {
      onSelectTarget: (t) => cb.current.onSelectTarget?.(t),
      onSelectUnit: (u) => cb.current.onSelectUnit?.(u),
    });
    chart.current = c;
    return () => {
      c.destroy();
      chart.current = null;
    };
  }, []);

  const base = useMemo(() => matrixData(explanation), [explanation]);
  useEffect(() => {
    chart.current?.update({ ...base, selectedTarget, selectedUnit });
  }, [base, selectedTarget, selectedUnit]);

  return (
    <div className="atman-target-matrix-box">
      <svg ref={ref} data-testid="target-matrix" />
    </div>
  );
}
