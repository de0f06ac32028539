/**
 * The demo's live view: per funnel, the volume of each step over the last five minutes of event time and the
 * step-to-step conversion, read back from the windows in Redis (so what it shows is what the store holds).
 */
import type { FunnelDef } from '../funnels/funnel.js';
import type { WindowStore } from '../windows/window-store.js';

export interface LiveViewSource {
  windows: Pick<WindowStore, 'stepTotals' | 'getWatermarks'>;
  rules: { current: { funnels: readonly FunnelDef[] } | null };
}

const WINDOW_MS = 5 * 60_000;

export async function renderCounts(src: LiveViewSource, now: number): Promise<string> {
  const funnels = src.rules.current?.funnels ?? [];
  const lines = [`${new Date(now).toISOString().slice(11, 19)} UTC · last 5 min of event time, read from Redis`];
  for (const f of funnels) {
    const t = await src.windows.stepTotals({ funnel: f, from: now - WINDOW_MS, to: now });
    const parts = f.steps.map((s, i) => {
      const v = t.volume[i] ?? 0;
      if (i === 0) return `${s.name} ${v}`;
      const prev = t.volume[i - 1] ?? 0;
      return `${s.name} ${v} (${prev ? ((100 * v) / prev).toFixed(1) : '–'}%)`;
    });
    const first = t.volume[0] ?? 0;
    const last = t.volume[f.steps.length - 1] ?? 0;
    const marks = [...(await src.windows.getWatermarks(f)).values()];
    const lag = marks.length ? `${Math.max(0, Math.round((now - Math.max(...marks)) / 1000))} s behind` : 'no data yet';
    lines.push(
      `  ${f.name.padEnd(10)} ${parts.join(' → ')}   ` +
        `overall ${first ? ((100 * last) / first).toFixed(1) : '–'}%   [${lag}]`,
    );
  }
  return `${lines.join('\n')}\n\n`;
}
