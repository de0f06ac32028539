/**
 * Steps whose `where` filter keeps (almost) none of the events of their type: a funnel that silently never counts
 * a step. Seen by a new user whose order events said `status: succeeded` where the rules wanted `status: paid`:
 * every rule of the funnel stayed "insufficient" for hours and nothing said why. Also: events of types no funnel
 * uses, by type (a typo in a step's `event`).
 *
 * Counted on the ingest path (pipeline.ts) for the events of a batch: one map lookup by event type per event, and
 * for the few types some step filters, the filter check the window store does anyway. Per (funnel, step) the counts
 * are kept per minute over the last `windowMs` (5 minutes): as soon as that span holds `minSeen` events of the
 * step's type and under `maxShare` (1 %) of them pass the filter (a quiet step: none in the span, and under 1 % of
 * the `minSeen` or more counted so far), the step is reported: a log line naming the
 * funnel, step, filter and a bounded sample of the values seen (once when it starts, once when it clears), a
 * warning on /readyz, the counter fw_step_filter_unmatched_total{funnel,step}, and `explain` for the rules on it.
 *
 * Per replica: each replica counts the events it consumes (its partitions), so with several replicas each reports
 * from its own share of the stream. A filter that matches nothing matches nothing on every partition, so every
 * replica that sees the step's events reports it; a share near the 1 % line may be reported by some and not others.
 */
import type { FwEvent } from '../events/event.js';
import type { FunnelDef, StepDef } from '../funnels/funnel.js';
import { isSynthetic, stepFilterMatches } from '../funnels/match.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';

export interface UnmatchedReport {
  funnel: string;
  step: string;
  /** The event type the step counts. */
  event: string;
  /** The filter as written, e.g. `status=paid`. */
  filter: string;
  /** Events of the step's type in the span, and how many passed the filter. */
  seen: number;
  matched: number;
  /** A bounded sample of the values the filtered attributes had on the events turned away, with counts. */
  sample: Record<string, Record<string, number>>;
  /** One sentence for people. */
  text: string;
}

export interface UnmatchedOptions {
  metrics?: Metrics;
  logger?: Logger;
  windowMs?: number;
  minSeen?: number;
  maxShare?: number;
  /** Distinct values kept per attribute in the sample. */
  sampleValues?: number;
}

const MIN = 60_000;
/** Distinct unused event types remembered (the rest are counted under "other types"). */
const MAX_UNUSED_TYPES = 50;
const ABSENT = '(absent)';

interface StepTally {
  funnel: string;
  step: string;
  event: string;
  def: StepDef;
  where: Record<string, string[]>;
  filter: string;
  /** minute start → counts, the last few minutes only. */
  minutes: Map<number, { seen: number; matched: number }>;
  total: { seen: number; matched: number };
  sample: Map<string, Map<string, number>>;
  reported: boolean;
}

export function filterText(where: Record<string, string[]>): string {
  return Object.entries(where)
    .map(([k, vs]) => `${k}=${vs.length === 1 ? vs[0] : `(${vs.join('|')})`}`)
    .join(', ');
}

export class UnmatchedFilters {
  private readonly steps = new Map<string, StepTally>();
  private readonly index = new WeakMap<readonly FunnelDef[], Map<string, StepTally[]>>();
  private readonly unused = new Map<string, number>();
  private unusedOther = 0;
  private readonly windowMs: number;
  private readonly minSeen: number;
  private readonly maxShare: number;
  private readonly sampleValues: number;

  constructor(private readonly o: UnmatchedOptions = {}) {
    this.windowMs = o.windowMs ?? 5 * MIN;
    this.minSeen = o.minSeen ?? 20;
    this.maxShare = o.maxShare ?? 0.01;
    this.sampleValues = o.sampleValues ?? 5;
  }

  /** Event type → the filtered steps on it, for this funnel list (a reload brings a new list). */
  private byType(funnels: readonly FunnelDef[]): Map<string, StepTally[]> {
    let m = this.index.get(funnels);
    if (m) return m;
    m = new Map();
    for (const f of funnels) {
      for (const s of f.steps) {
        if (!s.where) continue;
        const t = this.tally(f, s);
        m.set(s.event, [...(m.get(s.event) ?? []), t]);
      }
    }
    this.index.set(funnels, m);
    return m;
  }

  private tally(f: FunnelDef, s: StepDef): StepTally {
    const filter = filterText(s.where!);
    const key = `${f.name}\u0000${s.name}\u0000${filter}\u0000${s.event}`;
    let t = this.steps.get(key);
    if (!t) {
      t = {
        funnel: f.name,
        step: s.name,
        event: s.event,
        def: s,
        where: s.where!,
        filter,
        minutes: new Map(),
        total: { seen: 0, matched: 0 },
        sample: new Map(),
        reported: false,
      };
      this.steps.set(key, t);
    }
    return t;
  }

  /** Counts one batch's valid events against the filtered steps, then reports what changed. */
  observe(events: readonly FwEvent[], funnels: readonly FunnelDef[], now: number): void {
    const index = this.byType(funnels);
    if (index.size === 0) return;
    const minute = Math.floor(now / MIN) * MIN;
    const touched = new Map<StepTally, { seen: number; matched: number }>();
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      const list = index.get(ev.type);
      if (list === undefined || isSynthetic(ev)) continue;
      for (let k = 0; k < list.length; k++) {
        const t = list[k]!;
        let c = touched.get(t);
        if (!c) touched.set(t, (c = { seen: 0, matched: 0 }));
        c.seen++;
        if (stepFilterMatches(t.def, ev.attrs)) c.matched++;
        else this.sampleOf(t, ev);
      }
    }
    for (const [t, c] of touched) {
      const m = t.minutes.get(minute) ?? { seen: 0, matched: 0 };
      m.seen += c.seen;
      m.matched += c.matched;
      t.minutes.set(minute, m);
      t.total.seen += c.seen;
      t.total.matched += c.matched;
      if (c.seen > c.matched)
        this.o.metrics?.stepFilterUnmatched.inc({ funnel: t.funnel, step: t.step }, c.seen - c.matched);
    }
    this.check(now);
  }

  private sampleOf(t: StepTally, ev: FwEvent): void {
    for (const name in t.where) {
      let values = t.sample.get(name);
      if (!values) t.sample.set(name, (values = new Map()));
      const v = ev.attrs[name] ?? ABSENT;
      const n = values.get(v);
      if (n !== undefined) values.set(v, n + 1);
      else if (values.size < this.sampleValues) values.set(v, 1);
    }
  }

  /** Counts valid events no funnel uses, by type (bounded). */
  observeUnused(types: ReadonlyMap<string, number>): void {
    for (const [type, n] of types) {
      const have = this.unused.get(type);
      if (have !== undefined) this.unused.set(type, have + n);
      else if (this.unused.size < MAX_UNUSED_TYPES) this.unused.set(type, n);
      else this.unusedOther += n;
    }
  }

  /** Steps reported now: over the last `windowMs`, enough events of the type and (almost) none passing. */
  reports(now: number): UnmatchedReport[] {
    const out: UnmatchedReport[] = [];
    for (const t of this.steps.values()) {
      const w = this.windowCounts(t, now);
      if (this.reportable(t, w)) out.push(this.reportNow(t, w));
    }
    return out;
  }

  /** Steps reported over everything counted since the start (the replay's summary). */
  totals(): UnmatchedReport[] {
    return [...this.steps.values()].filter((t) => this.flagged(t.total)).map((t) => this.report(t, t.total, ''));
  }

  /** Valid events of types no funnel uses, most first. */
  unusedTypes(): { type: string; count: number }[] {
    const list = [...this.unused].map(([type, count]) => ({ type, count })).sort((a, b) => b.count - a.count);
    return this.unusedOther > 0 ? [...list, { type: '(other types)', count: this.unusedOther }] : list;
  }

  /** The /readyz warning: every step reported now, or null. */
  warning(now: number): string | null {
    const r = this.reports(now);
    return r.length === 0 ? null : `${r.map((x) => x.text).join('; ')} (counted on this replica)`;
  }

  private windowCounts(t: StepTally, now: number): { seen: number; matched: number } {
    const from = Math.floor(now / MIN) * MIN - this.windowMs + MIN;
    let seen = 0,
      matched = 0;
    for (const [m, c] of t.minutes) {
      if (m < from) {
        t.minutes.delete(m);
        continue;
      }
      seen += c.seen;
      matched += c.matched;
    }
    return { seen, matched };
  }

  /**
   * Reported now: the last `windowMs` alone says so; or, on a quiet step (fewer than `minSeen` events in the span),
   * its events keep arriving, none of them passed, and over everything counted since the start (of this filter)
   * fewer than `maxShare` did. Without the second, a step seeing 2 events a minute would never be reported.
   */
  private reportable(t: StepTally, w: { seen: number; matched: number }): boolean {
    return this.flagged(w) || (w.seen > 0 && w.matched === 0 && this.flagged(t.total));
  }

  private reportNow(t: StepTally, w: { seen: number; matched: number }): UnmatchedReport {
    return this.flagged(w)
      ? this.report(t, w, `in the last ${Math.round(this.windowMs / MIN)} min`)
      : this.report(t, t.total, 'so far');
  }

  private flagged(c: { seen: number; matched: number }): boolean {
    return c.seen >= this.minSeen && c.matched < this.maxShare * c.seen;
  }

  private report(t: StepTally, c: { seen: number; matched: number }, span: string): UnmatchedReport {
    const sample: Record<string, Record<string, number>> = {};
    for (const [name, values] of t.sample) sample[name] = Object.fromEntries(values);
    const seenText = [...t.sample]
      .map(([name, values]) => [...values].map(([v, n]) => `${name}=${v} ×${n.toLocaleString('en-US')}`).join(', '))
      .join(', ');
    const n = (x: number) => x.toLocaleString('en-US');
    return {
      funnel: t.funnel,
      step: t.step,
      event: t.event,
      filter: t.filter,
      seen: c.seen,
      matched: c.matched,
      sample,
      text:
        `funnel ${t.funnel}, step ${t.step}: its filter where ${t.filter} matched ${n(c.matched)} of ${n(c.seen)} ` +
        `${t.event} events${span ? ` ${span}` : ''}${seenText ? ` (values seen: ${seenText})` : ''}`,
    };
  }

  /** Logs the steps that started or stopped being reported since the last check. */
  private check(now: number): void {
    for (const t of this.steps.values()) {
      const w = this.windowCounts(t, now);
      const flagged = this.reportable(t, w);
      if (flagged === t.reported) continue;
      t.reported = flagged;
      const fields = { funnel: t.funnel, step: t.step, filter: t.filter, seen: w.seen, matched: w.matched };
      if (flagged) {
        const r = this.reportNow(t, w);
        this.o.logger?.warn(
          { ...fields, sample: r.sample },
          `${r.text}: the step counts (almost) nothing; check the filter against the events`,
        );
      } else {
        this.o.logger?.info(
          fields,
          `funnel ${t.funnel}, step ${t.step}: no longer reported (its filter where ${t.filter} matched ` +
            `${w.matched} of ${w.seen} ${t.event} events in the last ${Math.round(this.windowMs / MIN)} min)`,
        );
      }
    }
  }
}
