/**
 * The rule chart: observed vs expected with the 95% band (uPlot), alert spans shaded, onsets and deploys as
 * vertical lines. Spans, onsets and deploys are DOM overlays on uPlot's `over` layer (positioned from the x scale
 * on every redraw), so a deploy shows its details on hover and a test can find each marker. Drag to zoom,
 * double-click to reset. Each chart is kept on window.fwCharts under its name (tests and the benchmark read it).
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { when } from './api.js';

export interface Marker {
  kind: 'span' | 'onset' | 'deploy';
  from: number;
  to?: number | null;
  label: string;
}

declare global {
  interface Window {
    fwCharts?: Record<string, uPlot>;
  }
}

export function Chart(props: {
  name: string;
  /** x in ms; series values. */
  data: (number | null)[][];
  series: { label: string; stroke: string; dash?: number[]; width?: number }[];
  band?: [number, number];
  markers?: Marker[];
  height?: number;
  yFormat?: (v: number) => string;
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current!;
    host.dataset.drawn = '0';
    const xs = props.data[0]!.map((t) => (t as number) / 1000);
    const data = [xs, ...props.data.slice(1)] as uPlot.AlignedData;
    const place = (u: uPlot) => {
      for (const m of u.over.querySelectorAll<HTMLElement>('.fw-marker')) {
        const x0 = u.valToPos(Number(m.dataset.from) / 1000, 'x');
        const to = m.dataset.to ? Number(m.dataset.to) : null;
        const x1 = to !== null ? u.valToPos(to / 1000, 'x') : x0;
        const lo = Math.max(0, Math.min(x0, x1)),
          hi = Math.min(u.over.clientWidth, Math.max(x0, x1));
        m.style.display = hi < 0 || lo > u.over.clientWidth ? 'none' : '';
        m.style.left = `${m.classList.contains('fw-span') ? lo : x0}px`;
        if (m.classList.contains('fw-span')) m.style.width = `${Math.max(1, hi - lo)}px`;
      }
    };
    const opts: uPlot.Options = {
      width: Math.max(320, host.clientWidth || 900),
      height: props.height ?? 280,
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: s.width ?? 1.5,
          ...(s.dash ? { dash: s.dash } : {}),
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : props.yFormat ? props.yFormat(v) : String(v)),
        })),
      ],
      axes: [{}, { values: (_u, vs) => vs.map((v) => (props.yFormat ? props.yFormat(v) : String(v))), size: 60 }],
      ...(props.band ? { bands: [{ series: props.band, fill: 'rgba(80,120,200,0.15)' }] } : {}),
      hooks: {
        ready: [
          (u) => {
            for (const m of props.markers ?? []) {
              const d = document.createElement('div');
              d.className = `fw-marker fw-${m.kind}`;
              d.dataset.from = String(m.from);
              if (m.to !== undefined) d.dataset.to = String(m.to ?? props.data[0]![props.data[0]!.length - 1]);
              d.title = m.label;
              u.over.appendChild(d);
            }
            place(u);
          },
        ],
        setScale: [(u) => place(u)],
        setSize: [(u) => place(u)],
        draw: [
          (u) => {
            host.dataset.drawn = '1';
            host.dataset.drawnAt = String(performance.now());
            void u;
          },
        ],
      },
    };
    const u = new uPlot(opts, data, host);
    (window.fwCharts ??= {})[props.name] = u;
    const onResize = () => u.setSize({ width: Math.max(320, host.clientWidth), height: props.height ?? 280 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      u.destroy();
      delete window.fwCharts?.[props.name];
    };
  }, [props.data, props.markers]);
  return <div class="chart" data-chart={props.name} ref={el} />;
}

/** A small inline sparkline (SVG): no axes, the line only; gaps where there is no data. */
export function Sparkline(props: { values: (number | null)[]; width?: number; height?: number }) {
  const w = props.width ?? 160,
    h = props.height ?? 32;
  const vs = props.values.filter((v): v is number => v !== null);
  if (vs.length === 0) return <svg class="spark" width={w} height={h} />;
  const lo = Math.min(...vs),
    hi = Math.max(...vs);
  const y = (v: number) => (hi === lo ? h / 2 : h - 2 - ((v - lo) / (hi - lo)) * (h - 4));
  let d = '';
  let pen = false;
  props.values.forEach((v, i) => {
    const x = (i / Math.max(1, props.values.length - 1)) * w;
    if (v === null) pen = false;
    else {
      d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
  });
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`}>
      <path d={d} fill="none" stroke="#3567c4" stroke-width="1.5" />
    </svg>
  );
}

export const deployLabel = (d: {
  service: string;
  version: string;
  environment: string;
  ts: number;
  author?: string;
}) => `deploy ${d.service} ${d.version} (${d.environment}) at ${when(d.ts)}${d.author ? ` by ${d.author}` : ''}`;
