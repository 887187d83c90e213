// Mounts createTopUnitsChart on an <svg> through a ref; the chart lives as long as the component.
import { useEffect, useMemo, useRef } from 'react';
import type { ReactNode } from 'react';
import { maxAbs as maxAbsOf, ranks } from './score-view';
import { createTopUnitsChart, topUnits } from './top-units-chart';
import type { Chart, TopUnitsData } from './top-units-chart';

export interface TopUnitsChartProps {
  labels: readonly string[];
  scores: readonly number[];
  /** how many bars; default 10 */
  n?: number;
  selectedUnit?: number | null;
  onSelectUnit?: (unit: number) => void;
  /** the colour scale's domain [-maxAbs, maxAbs]; default the scores' own */
  maxAbs?: number;
}

export function TopUnitsChart({ labels, scores, n = 10, selectedUnit = null, onSelectUnit, maxAbs }: TopUnitsChartProps): ReactNode {
  const ref = useRef<SVGSVGElement>(null);
  const chart = useRef<Chart<TopUnitsData> | null>(null);
  const onSelect = useRef(onSelectUnit);
  onSelect.current = onSelectUnit;

  useEffect(() => {
    const c = createTopUnitsChart(ref.current!, { onSelectUnit: (u) => onSelect.current?.(u) });
    chart.current = c;
    return () => {
      c.destroy();
      chart.current = null;
    };
  }, []);

  const data = useMemo<TopUnitsData>(() => {
    const rank = ranks([...scores]);
    return { bars: topUnits(labels, scores, rank, n), total: scores.length, maxAbs: maxAbs ?? maxAbsOf([...scores]), selected: selectedUnit };
  }, [labels, scores, n, selectedUnit, maxAbs]);

  useEffect(() => {
    chart.current?.update(data);
  }, [data]);

  return (
    <div className="atman-top-units-box">
      <svg ref={ref} data-testid="top-units-chart" />
    </div>
  );
}
