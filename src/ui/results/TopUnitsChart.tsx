// Mounts createTopUnitsChart on an <svg> through a ref; the chart lives as long as the component.
import { useEffect, useMemo, useRef, useState } from 'react';
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
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState<number | undefined>(undefined);

  // The chart is drawn at the width of its box, so its text is drawn at its own size.
  useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const measure = () => {
      const w = Math.round(el.clientWidth);
      if (w > 0) setWidth((old) => (old !== undefined && Math.abs(old - w) < 8 ? old : w));
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

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
    return { bars: topUnits(labels, scores, rank, n), total: scores.length, maxAbs: maxAbs ?? maxAbsOf([...scores]), selected: selectedUnit, ...(width ? { width } : {}) };
  }, [labels, scores, n, selectedUnit, maxAbs, width]);

  useEffect(() => {
    chart.current?.update(data);
  }, [data]);

  return (
    <div className="atman-top-units-box" ref={box}>
      <svg ref={ref} data-testid="top-units-chart" />
    </div>
  );
}
