/**
 * The window store's counting rules written the plain way, event by event over a whole stream, with no batching,
 * no Redis and no aggregation: the property test checks the store against it. Keep it naive; its value is that it
 * shares no code with the store beyond the matcher and the histogram bucket formula.
 */
import type { FwEvent } from '../../../src/events/event.js';
import type { FunnelDef } from '../../../src/funnels/funnel.js';
import { compileMatcher } from '../../../src/funnels/match.js';
import { durationBucket } from '../../../src/windows/histogram.js';

export interface ModelCounts {
  volume: number[];
  cohort: number[];
  duplicates: number[];
  outOfOrder: number[];
  noEntry: number[];
  expired: number[];
  /** Late by the partition's watermark and allowedLateness, or into a sealed bucket (sealedLate is that part). */
  late: number;
  sealedLate: number;
  /** Conversions of entities that entered in a sealed bucket: the step counts, the cohort increment does not. */
  lateCohort: number;
  unmatched: number;
  /** `${dimension}=${value}` → per-step volume (values already capped: 'other', '(none)'). */
  dimVolume: Map<string, number[]>;
  /** `${dimension}=${entry value}` → per-step cohort reached ([0] = entered). */
  dimCohort: Map<string, number[]>;
  /** step → duration bucket → count. */
  durations: Map<number, Map<number, number>>;
}

interface State {
  e: number;
  l: number;
  steps: Set<number>;
  dims: string[];
}

export class ReferenceModel {
  readonly counts: ModelCounts;
  private readonly match;
  /** Per partition: entity → shard → state (mirrors the store's lookup by entry shard). */
  private readonly states = new Map<string, Map<string, Map<number, State>>>();
  private readonly watermarks = new Map<string, number>();
  /** Dimension registry: first maxValues distinct values, in the order batches were applied. */
  private readonly registry = new Map<string, string[]>();
  /** Buckets starting before this take no writes (compaction sealed them on every partition, present and future). */
  private sealed: number | undefined;

  constructor(private readonly f: FunnelDef) {
    this.match = compileMatcher(f);
    const z = () => new Array<number>(f.steps.length).fill(0);
    this.counts = {
      volume: z(),
      cohort: z(),
      duplicates: z(),
      outOfOrder: z(),
      noEntry: z(),
      expired: z(),
      late: 0,
      sealedLate: 0,
      lateCohort: 0,
      unmatched: 0,
      dimVolume: new Map(),
      dimCohort: new Map(),
      durations: new Map(),
    };
  }

  /** The store's compaction sealed every partition up to `to` (a multiple of bucketMs). */
  seal(to: number | undefined): void {
    if (to !== undefined && (this.sealed === undefined || to > this.sealed)) this.sealed = to;
  }

  /** Apply one batch as the store would have applied it (call only for batches the store accepted). */
  applyBatch(partition: string, events: readonly FwEvent[]): void {
    const matched = events.map(this.match);
    // Registration happens for the whole batch first, in order of first appearance, as the store does.
    for (const m of matched) {
      if (!m || m.entity === '') continue;
      this.f.dimensions.forEach((d, i) => {
        const v = m.dims[i];
        if (v === undefined || v === '') return;
        const list = this.registry.get(d.name) ?? [];
        if (!list.includes(v) && list.length < d.maxValues) list.push(v);
        this.registry.set(d.name, list);
      });
    }
    for (const m of matched) {
      if (!m) {
        this.counts.unmatched++;
        continue;
      }
      if (m.entity === '') continue;
      this.applyEvent(partition, m.step, m.ts, m.entity, this.capped(m.dims));
    }
  }

  private capped(dims: (string | undefined)[]): string[] {
    return this.f.dimensions.map((d, i) => {
      const v = dims[i];
      if (v === undefined || v === '') return '(none)';
      return (this.registry.get(d.name) ?? []).includes(v) ? v : 'other';
    });
  }

  private bump(map: Map<string, number[]>, key: string, step: number): void {
    const row = map.get(key) ?? new Array<number>(this.f.steps.length).fill(0);
    row[step]!++;
    map.set(key, row);
  }

  private volume(step: number, dims: string[]): void {
    this.counts.volume[step]!++;
    this.f.dimensions.forEach((d, i) => this.bump(this.counts.dimVolume, `${d.name}=${dims[i]}`, step));
  }

  private applyEvent(partition: string, step: number, t: number, entity: string, dims: string[]): void {
    const W = this.f.conversionWindowMs;
    const wm = this.watermarks.get(partition);
    if (wm !== undefined && t < wm - this.f.allowedLatenessMs) {
      this.counts.late++;
      return;
    }
    if (this.sealed !== undefined && t < this.sealed) {
      this.counts.late++;
      this.counts.sealedLate++;
      return;
    }
    if (wm === undefined || t > wm) this.watermarks.set(partition, t);
    let byEntity = this.states.get(partition);
    if (!byEntity) this.states.set(partition, (byEntity = new Map()));
    let shards = byEntity.get(entity);
    if (!shards) byEntity.set(entity, (shards = new Map()));
    const k0 = Math.floor(t / W);
    let st: State | undefined;
    for (let k = k0 + 1; k >= k0 - 2 && !st; k--) st = shards.get(k);
    const c = this.counts;
    if (step === 0) {
      if (st && t - st.e <= W) {
        c.duplicates[0]!++;
        return;
      }
      shards.set(k0, { e: t, l: t, steps: new Set([0]), dims });
      this.volume(0, dims);
      c.cohort[0]!++;
      this.f.dimensions.forEach((d, i) => this.bump(c.dimCohort, `${d.name}=${dims[i]}`, 0));
      return;
    }
    if (!st) {
      c.noEntry[step]!++;
      this.volume(step, dims);
      return;
    }
    if (st.steps.has(step)) {
      c.duplicates[step]!++;
      return;
    }
    const furthest = Math.max(...st.steps);
    st.steps.add(step);
    this.volume(step, dims);
    if (t - st.e > W) {
      c.expired[step]!++;
      return;
    }
    if (this.sealed !== undefined && st.e < this.sealed) c.lateCohort++;
    else {
      c.cohort[step]!++;
      this.f.dimensions.forEach((d, i) => this.bump(c.dimCohort, `${d.name}=${st!.dims[i]}`, step));
    }
    if (furthest > step) {
      c.outOfOrder[step]!++;
      return;
    }
    const h = c.durations.get(step) ?? new Map<number, number>();
    const b = durationBucket(t - st.l);
    h.set(b, (h.get(b) ?? 0) + 1);
    c.durations.set(step, h);
    st.l = t;
  }
}
