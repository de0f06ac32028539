/** Expected window counts computed directly from a list of produced events: the oracle for ingest tests. */
import type { FwEvent } from '../../src/events/event.js';
import type { FunnelDef } from '../../src/funnels/funnel.js';

/** Per-step volume: distinct entities reaching each step (the store counts an entity once per step). */
export function expectedStepVolume(funnel: FunnelDef, events: readonly FwEvent[]): number[] {
  const seen = funnel.steps.map(() => new Set<string>());
  for (const e of events) {
    funnel.steps.forEach((s, i) => {
      if (s.event !== e.type) return;
      if (s.where && !Object.entries(s.where).every(([k, vs]) => vs.includes(e.attrs[k] ?? '\u0000'))) return;
      seen[i]!.add(e.entity);
    });
  }
  return seen.map((s) => s.size);
}

/** Per-value volume of one dimension for each step. */
export function expectedDimensionVolume(
  funnel: FunnelDef,
  events: readonly FwEvent[],
  dim: string,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const seen = new Set<string>();
  for (const e of events) {
    funnel.steps.forEach((s, i) => {
      if (s.event !== e.type) return;
      if (s.where && !Object.entries(s.where).every(([k, vs]) => vs.includes(e.attrs[k] ?? '\u0000'))) return;
      const k = `${i}\u0000${e.entity}`;
      if (seen.has(k)) return;
      seen.add(k);
      const v = e.attrs[dim] ?? '(none)';
      (out[v] ??= funnel.steps.map(() => 0))[i]!++;
    });
  }
  return out;
}
