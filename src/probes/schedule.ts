/**
 * When each journey runs next: pure bookkeeping on injected time, so it is tested without sleeping. Each journey
 * keeps a grid of slots `every` apart from the moment it was added; each run starts at its slot plus a jitter of up
 * to 10 % of `every` (at most 30 s), so probes of many journeys (and of several runners) do not hit the shop in
 * the same second, and the grid does not drift with the jitter. A journey whose run is still going is not started
 * again: the slots it overran are skipped (counted as missed), never queued up.
 */

export interface ScheduledJourney {
  name: string;
  everyMs: number;
}

interface Entry {
  everyMs: number;
  /** The slot the next run belongs to. */
  slot: number;
  /** When the next run starts: `slot` plus its jitter. */
  nextAt: number;
  running: boolean;
  missed: number;
}

export const MAX_JITTER_MS = 30_000;

export function jitterOf(everyMs: number, random: number): number {
  return Math.floor(Math.min(everyMs * 0.1, MAX_JITTER_MS) * random);
}

export class ProbeSchedule {
  private readonly entries = new Map<string, Entry>();

  /** `random` in [0, 1) for the jitter (Math.random in production, a seeded PRNG in tests). */
  constructor(private readonly random: () => number = Math.random) {}

  /**
   * Takes the journeys of a (re)loaded set: new ones are due at once (plus jitter), removed ones are forgotten (a
   * run in flight finishes), a changed `every` restarts the grid; the others keep their place, so a reload does not
   * make every journey run again.
   */
  sync(journeys: readonly ScheduledJourney[], now: number): void {
    const names = new Set(journeys.map((j) => j.name));
    for (const name of [...this.entries.keys()]) if (!names.has(name)) this.entries.delete(name);
    for (const j of journeys) {
      const e = this.entries.get(j.name);
      if (e && e.everyMs === j.everyMs) continue;
      this.entries.set(j.name, {
        everyMs: j.everyMs,
        slot: now,
        nextAt: now + jitterOf(j.everyMs, this.random()),
        running: e?.running ?? false,
        missed: e?.missed ?? 0,
      });
    }
  }

  /** The journeys to start now; each is marked running until `finished`. */
  due(now: number): string[] {
    const out: string[] = [];
    for (const [name, e] of this.entries) {
      if (e.running || e.nextAt > now) continue;
      e.running = true;
      out.push(name);
      // The next slot still ahead; slots that passed while this one waited (a stalled runner) are missed.
      let slot = e.slot + e.everyMs;
      while (slot <= now) {
        slot += e.everyMs;
        e.missed++;
      }
      e.slot = slot;
      e.nextAt = slot + jitterOf(e.everyMs, this.random());
    }
    return out;
  }

  /** The run of `name` ended; a run that fell due meanwhile is missed, the next one waits for its slot. */
  finished(name: string, now: number): void {
    const e = this.entries.get(name);
    if (!e) return;
    e.running = false;
    while (e.nextAt <= now) {
      e.slot += e.everyMs;
      e.missed++;
      e.nextAt = e.slot + jitterOf(e.everyMs, this.random());
    }
  }

  /** When the next journey that is not running is due (undefined: none). */
  nextWakeAt(): number | undefined {
    let min: number | undefined;
    for (const e of this.entries.values()) if (!e.running && (min === undefined || e.nextAt < min)) min = e.nextAt;
    return min;
  }

  isRunning(name: string): boolean {
    return this.entries.get(name)?.running ?? false;
  }

  /** Slots skipped because the journey was still running (or the runner was stalled). */
  missed(name: string): number {
    return this.entries.get(name)?.missed ?? 0;
  }
}
