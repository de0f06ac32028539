/**
 * Liveness of the event feed on the metrics, refreshed on every minute tick (not only when events are applied, or a
 * dead feed would keep showing its last good value):
 *   - fw_watermark_age_seconds{funnel}: the clock minus the newest event time applied to the funnel, over every
 *     partition, read from Redis (so every replica reports the same, whichever partitions it consumes);
 *   - fw_last_event_age_seconds{funnel}: the clock minus when this replica last applied an event of the funnel, or
 *     minus when it started if it has applied none since (several replicas: the funnel's feed is min() over them).
 */
import type { FunnelDef } from '../funnels/funnel.js';
import type { Metrics } from '../obs/metrics.js';
import type { WindowStore } from '../windows/window-store.js';

export class FeedLiveness {
  private readonly lastApplied = new Map<string, number>();

  constructor(
    private readonly deps: {
      store: Pick<WindowStore, 'getWatermarks'>;
      metrics: Metrics;
      /** When this replica started: the last-event age of a funnel it has applied nothing to counts from here. */
      startedAt: number;
    },
  ) {}

  /** The ingest pipeline applied events of `funnel` at `now`. */
  noteApplied(funnel: string, now: number): void {
    this.lastApplied.set(funnel, now);
  }

  /** Sets the last-event age of every funnel as of `now` (the tick's time); needs no Redis. */
  updateLastEvent(funnels: readonly FunnelDef[], now: number): void {
    const { metrics, startedAt } = this.deps;
    for (const f of funnels) {
      const last = this.lastApplied.get(f.name) ?? startedAt;
      metrics.lastEventAge.set({ funnel: f.name }, Math.max(0, (now - last) / 1000));
    }
  }

  /** Sets the watermark age of every funnel that has one as of `now`, from the watermarks in Redis. */
  async updateWatermarks(funnels: readonly FunnelDef[], now: number): Promise<void> {
    const { metrics, store } = this.deps;
    for (const f of funnels) {
      let newest: number | undefined;
      for (const w of (await store.getWatermarks(f)).values()) if (newest === undefined || w > newest) newest = w;
      if (newest !== undefined) metrics.watermarkAge.set({ funnel: f.name }, Math.max(0, (now - newest) / 1000));
    }
  }
}
