// Mounts createFaithfulnessChart on an <svg> through a ref; the chart lives as long as the component.
import { useEffect, useRef } from 'react';
import type { ReactNode } from 'react';
import type { Chart } from '../results/top-units-chart';
import { createFaithfulnessChart, type FaithfulnessChartData } from './faithfulness-chart';

export function FaithfulnessChart({ data, testId = 'faithfulness-chart' }: { data: FaithfulnessChartData; testId?: string }): ReactNode {
  const ref = useRef<SVGSVGElement>(null);
  const chart = useRef<Chart<FaithfulnessChartData> | null>(null);

  useEffect(() => {
    const c = createFaithfulnessChart(ref.current!);
    chart.current = c;
    return () => {
      c.destroy();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    chart.current?.update(data);
  }, [data]);

  return (
    <div className="atman-faith-chart-box">
      <svg ref={ref} data-testid={testId} />
    </div>
  );
}
