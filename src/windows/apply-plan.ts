/**
 * The batch state machine of applyBatch, in TypeScript and pure: given the partition's meta (watermark,
 * sealedUpTo) and the stored states of the batch's entities, as read from Redis in one round trip, it computes
 * everything the batch changes: per-event outcomes (late, entry, step, duplicate, out of order, no entry, expired,
 * late cohort), the aggregated counter deltas per (hot bucket, group, field), the new entity states, the new
 * watermark and the oldest bucket written. `encodeCommit` turns that into the ARGV of lua/applyBatch-1.lua, which
 * writes it only if the meta's offset and sealedUpTo are still the ones the plan was computed from (optimistic
 * concurrency: state and counts move only together with the offset, and only from the state they were computed
 * from). Redis then does one HINCRBY per distinct field and one HSET per entity shard, instead of running the
 * state machine per event in Lua.
 *
 * The semantics are exactly those the former all-Lua script had (window-store.ts documents them for readers):
 *   late:   ts < watermark - allowedLateness, or ts < sealedUpTo → counted, nothing changes (not even the watermark);
 *           otherwise the watermark moves to max(ts).
 *   entry:  no state, or state older than the conversion window → new state, volume[0]+1; else duplicate.
 *   step s: no state → no-entry (volume only); s already reached → duplicate; beyond the window → expired
 *           (volume only); a later step already reached → out of order (volume + cohort, no duration); otherwise
 *           volume + cohort at the ENTRY bucket with the ENTRY dimensions + duration since the last step. A cohort
 *           increment whose entry bucket is sealed is not applied but counted (lateCohort, a subset of steps).
 * Entity state lives in shard floor(entryTs / W) as "entryOffset:lastDelta:stepMask:dimCodes"; a lookup for an
 * event at ts checks shards floor(ts/W)+1 down to floor(ts/W)-2, newest first (key-layout.ts has the keys).
 */
import { durationBucket } from './histogram.js';
import { MAX_STEPS } from './key-layout.js';
import type { ApplyCounts } from './window-store.js';

export interface PlanParams {
  bucketMs: number;
  /** TTL of hot buckets past their end, counted from the watermark. */
  hotKeepMs: number;
  conversionWindowMs: number;
  allowedLatenessMs: number;
  nDims: number;
}

/** The matched events of a batch, in partition order, as parallel arrays (no object per event). */
export interface BatchEvents {
  n: number;
  steps: number[];
  /** Integer epoch ms. */
  ts: number[];
  entities: string[];
  /** nDims codes per event, event-major. */
  codes: number[];
}

/** One stored (or newly created) entity state, in its shard k. */
export interface EntitySlot {
  k: number;
  /** Entry time, time of the last step reached in order, bit mask of steps reached. */
  e: number;
  l: number;
  m: number;
  /** Entry dimension codes as stored ("3.12.127"), or undefined when `codes` holds them (new this batch). */
  d: string | undefined;
  codes: number[] | undefined;
  dirty: boolean;
}

/** One entity of the batch: the shard range its events can look up (lo - 2 .. hi + 1), and the states found there. */
export interface EntityRec {
  lo: number;
  hi: number;
  slots: EntitySlot[];
}

/**
 * The batch's distinct entities (first-appearance order) and, per event, the index of its entity: the state
 * machine and the state read address entities by index, so an entity id is hashed once per batch, not once per
 * event and shard.
 */
export interface StateReadPlan {
  names: string[];
  recs: EntityRec[];
  /** Event i's entity is names[entityOf[i]]. */
  entityOf: Int32Array;
}

/** Shards an event at entity shard k0 may find its entity's state in: k0 + 1 down to k0 - 2 (newest first). */
export const LOOKUP_BELOW = 2;
export const LOOKUP_ABOVE = 1;

/** Which entities the batch touches, and over which shard range each one's events look up states. */
export function planStateRead(ev: BatchEvents, conversionWindowMs: number): StateReadPlan {
  const W = conversionWindowMs;
  const index = new Map<string, number>();
  const names: string[] = [];
  const recs: EntityRec[] = [];
  const entityOf = new Int32Array(ev.n);
  for (let i = 0; i < ev.n; i++) {
    const k0 = Math.floor(ev.ts[i]! / W);
    const ent = ev.entities[i]!;
    let j = index.get(ent);
    if (j === undefined) {
      j = names.length;
      index.set(ent, j);
      names.push(ent);
      recs.push({ lo: k0, hi: k0, slots: [] });
    } else {
      const rec = recs[j]!;
      if (k0 < rec.lo) rec.lo = k0;
      else if (k0 > rec.hi) rec.hi = k0;
    }
    entityOf[i] = j;
  }
  return { names, recs, entityOf };
}

/** Parses a stored state "entryOffset:lastDelta:stepMask:dimCodes" (apply-plan's encodeState) without a regex:
 *  this runs for every state a batch finds. Undefined when malformed. */
function parseState(value: string): { e: number; l: number; m: number; d: string } | undefined {
  const a = value.indexOf(':');
  const b = a < 0 ? -1 : value.indexOf(':', a + 1);
  const c = b < 0 ? -1 : value.indexOf(':', b + 1);
  if (c < 0) return undefined;
  const e = Number(value.slice(0, a));
  const l = Number(value.slice(a + 1, b));
  const m = Number(value.slice(b + 1, c));
  if (
    !Number.isInteger(e) ||
    !Number.isInteger(l) ||
    !Number.isInteger(m) ||
    m < 0 ||
    a === 0 ||
    b === a + 1 ||
    c === b + 1
  )
    return undefined;
  return { e, l, m, d: value.slice(c + 1) };
}

/** Adds one stored state (the value of the entity in shard k) to the entity's record; null = none. */
export function addStoredState(rec: EntityRec, k: number, value: string | null, conversionWindowMs: number): void {
  if (value === null) return;
  const p = parseState(value);
  if (!p) return;
  const e = k * conversionWindowMs + p.e;
  rec.slots.push({ k, e, l: e + p.l, m: p.m, d: p.d, codes: undefined, dirty: false });
}

export function encodeState(s: EntitySlot, conversionWindowMs: number): string {
  const d = s.d ?? s.codes!.join('.');
  return `${s.e - s.k * conversionWindowMs}:${s.l - s.e}:${s.m}:${d}`;
}

function slotCodes(s: EntitySlot): number[] {
  if (s.codes) return s.codes;
  // "3.12.127" → [3, 12, 127], digit by digit (no split: this runs for every cohort step of a stored entity).
  const out: number[] = [];
  const d = s.d!;
  let v = -1;
  for (let i = 0; i < d.length; i++) {
    const c = d.charCodeAt(i) - 48;
    if (c >= 0 && c <= 9) v = (v < 0 ? 0 : v * 10) + c;
    else if (v >= 0) {
      out.push(v);
      v = -1;
    }
  }
  if (v >= 0) out.push(v);
  s.codes = out;
  return out;
}

/** Per-event outcomes of a planned batch: the store's ApplyCounts outcome fields, with `late` for `lateDropped`. */
export type PlanCounts = Pick<
  ApplyCounts,
  'entries' | 'steps' | 'duplicates' | 'outOfOrder' | 'noEntry' | 'expired' | 'lateCohort'
> & { late: number };

export interface BatchPlan {
  counts: PlanCounts;
  /** Watermark after the batch (undefined: none before and every event late). */
  watermark: number | undefined;
  /** Oldest hot bucket the batch counted into (written or not), for the meta's `fb`. */
  minBucket: number | undefined;
  /** Bucket start → (group * 65536 + field) → delta. Groups: 0 `t`, s `h<s>` (1..MAX_STEPS-1), MAX_STEPS + i `d<i>`. */
  buckets: Map<number, Map<number, number>>;
}

const GROUP_SHIFT = 65536;
const DIM_GROUP = MAX_STEPS;

export function groupName(g: number): string {
  if (g === 0) return 't';
  if (g < DIM_GROUP) return `h${g}`;
  return `d${g - DIM_GROUP}`;
}

/**
 * Runs the batch through the state machine against the states in `read` (planStateRead + addStoredState),
 * mutating those states in place (changed ones are marked dirty). `sealed` is the effective sealedUpTo: the
 * stored one raised to the partition's seal floor.
 */
export function planBatch(
  p: PlanParams,
  watermark: number | undefined,
  sealed: number | undefined,
  ev: BatchEvents,
  read: StateReadPlan,
): BatchPlan {
  const { recs, entityOf } = read;
  const W = p.conversionWindowMs;
  const L = p.allowedLatenessMs;
  const B = p.bucketMs;
  const nDims = p.nDims;
  const counts: PlanCounts = {
    late: 0,
    entries: 0,
    steps: 0,
    duplicates: 0,
    outOfOrder: 0,
    noEntry: 0,
    expired: 0,
    lateCohort: 0,
  };
  const buckets = new Map<number, Map<number, number>>();
  let minBucket: number | undefined;
  let lastStart = NaN;
  let last: Map<number, number> | undefined;
  const add = (t: number, key: number): void => {
    const fs = Math.floor(t / B) * B;
    if (fs !== lastStart) {
      last = buckets.get(fs);
      if (!last) {
        buckets.set(fs, (last = new Map()));
        if (minBucket === undefined || fs < minBucket) minBucket = fs;
      }
      lastStart = fs;
    }
    last!.set(key, (last!.get(key) ?? 0) + 1);
  };
  const addVolume = (t: number, s: number, c0: number): void => {
    add(t, s);
    for (let j = 0; j < nDims; j++) add(t, (DIM_GROUP + j) * GROUP_SHIFT + s * 128 + ev.codes[c0 + j]!);
  };
  const addCohort = (st: EntitySlot, s: number): void => {
    add(st.e, 100 + s);
    const codes = slotCodes(st);
    for (let j = 0; j < codes.length; j++) add(st.e, (DIM_GROUP + j) * GROUP_SHIFT + 2048 + s * 128 + codes[j]!);
  };

  let wm = watermark;
  for (let i = 0; i < ev.n; i++) {
    const s = ev.steps[i]!;
    const t = ev.ts[i]!;
    if ((wm !== undefined && t < wm - L) || (sealed !== undefined && t < sealed)) {
      counts.late++;
      continue;
    }
    if (wm === undefined || t > wm) wm = t;
    const rec = recs[entityOf[i]!]!;
    const k0 = Math.floor(t / W);
    let st: EntitySlot | undefined;
    for (const slot of rec.slots) {
      if (slot.k <= k0 + LOOKUP_ABOVE && slot.k >= k0 - LOOKUP_BELOW && (!st || slot.k > st.k)) st = slot;
    }
    const c0 = i * nDims;
    if (s === 0) {
      if (st && t - st.e <= W) {
        counts.duplicates++;
        add(t, 200);
      } else {
        counts.entries++;
        const codes = ev.codes.slice(c0, c0 + nDims);
        let slot: EntitySlot | undefined;
        for (const x of rec.slots) if (x.k === k0) slot = x;
        if (slot) {
          slot.e = t;
          slot.l = t;
          slot.m = 1;
          slot.d = undefined;
          slot.codes = codes;
          slot.dirty = true;
        } else {
          rec.slots.push({ k: k0, e: t, l: t, m: 1, d: undefined, codes, dirty: true });
        }
        addVolume(t, 0, c0);
      }
      continue;
    }
    if (!st) {
      counts.noEntry++;
      add(t, 400 + s);
      addVolume(t, s, c0);
      continue;
    }
    if ((st.m >> s) & 1) {
      counts.duplicates++;
      add(t, 200 + s);
      continue;
    }
    const furthest = 31 - Math.clz32(st.m);
    st.m += 1 << s;
    st.dirty = true;
    addVolume(t, s, c0);
    if (t - st.e > W) {
      counts.expired++;
      add(t, 500 + s);
      continue;
    }
    counts.steps++;
    if (sealed !== undefined && st.e < sealed) counts.lateCohort++;
    else addCohort(st, s);
    if (furthest > s) {
      counts.outOfOrder++;
      add(t, 300 + s);
    } else {
      add(t, s * GROUP_SHIFT + durationBucket(t - st.l));
      st.l = t;
    }
  }
  return { counts, watermark: wm, minBucket, buckets };
}

export interface CommitInput {
  firstOffset: number;
  lastOffset: number;
  /** The meta's `o` and `s` exactly as read ('' when absent): the commit is refused if either changed. */
  readOffset: string;
  readSealed: string;
  sealFloor: number | undefined;
  conversionWindowMs: number;
  allowedLatenessMs: number;
  bucketMs: number;
  hotKeepMs: number;
  shardTtlMs: number;
  metaTtlMs: number;
  unmatched: number;
  noEntity: number;
}

/** ARGV of lua/applyBatch-1.lua (its header documents the layout). */
export function encodeCommit(c: CommitInput, plan: BatchPlan, read: StateReadPlan): (string | number)[] {
  const W = c.conversionWindowMs;
  const wm = plan.watermark;
  const k = plan.counts;
  const argv: (string | number)[] = [
    c.firstOffset,
    c.lastOffset,
    c.readOffset,
    c.readSealed,
    c.sealFloor ?? '',
    wm ?? '',
    W,
    c.allowedLatenessMs,
    c.shardTtlMs,
    c.metaTtlMs,
    plan.minBucket ?? '',
    k.late,
    c.unmatched,
    c.noEntity,
    k.duplicates,
    k.outOfOrder,
    k.noEntry,
    k.expired,
    k.lateCohort,
    0,
    0,
  ];
  let nKeys = 0;
  for (const [fs, fields] of plan.buckets) {
    // TTL runs from the watermark (event time); a bucket already past retention is not written at all.
    const ttl = fs + c.bucketMs + c.hotKeepMs - wm!;
    if (ttl <= 0) continue;
    const keys = [...fields.keys()].sort((a, b) => a - b);
    const prefix = `f:${fs / 1000}:`;
    let g = -1;
    let countAt = -1;
    for (const key of keys) {
      const kg = Math.floor(key / GROUP_SHIFT);
      if (kg !== g) {
        g = kg;
        argv.push(prefix + groupName(g), ttl, 0);
        countAt = argv.length - 1;
        nKeys++;
      }
      argv.push(key - kg * GROUP_SHIFT, fields.get(key)!);
      argv[countAt] = (argv[countAt] as number) + 1;
    }
  }
  const byShard = new Map<number, (string | number)[]>();
  for (let j = 0; j < read.recs.length; j++) {
    for (const s of read.recs[j]!.slots) {
      if (!s.dirty) continue;
      let list = byShard.get(s.k);
      if (!list) byShard.set(s.k, (list = []));
      list.push(read.names[j]!, encodeState(s, W));
    }
  }
  for (const [shard, list] of byShard) {
    argv.push(shard, list.length / 2);
    for (const x of list) argv.push(x);
  }
  argv[19] = nKeys;
  argv[20] = byShard.size;
  return argv;
}
