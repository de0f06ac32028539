/**
 * The decisions of the ingest pipeline (pipeline.ts) for one batch, as pure functions: which funnels want an
 * event (bit masks), which messages are good, ignored or rejected, which part of the batch a funnel still needs
 * after what the store already applied, and which events that is. The pipeline only sequences them around the
 * side effects (dead letters, the store, metrics).
 *
 * Parallel arrays, not an object per event: this runs for every consumed message.
 */
import type { FwEvent } from '../events/event.js';
import { parseEvent, type ParseOptions } from '../events/parse.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { DeadLetter } from './dead-letter.js';
import { rawMessage, type SourceBatch, type SourceMessage } from './event-source.js';

/** Past 31 funnels the bits run out: those share this top bit and filter by type themselves. */
export const SHARED_FUNNEL_BIT = 1 << 30;

/** The bit of the funnel at `index` in the rule set's list. */
export function funnelBit(index: number): number {
  return 1 << Math.min(index, 30);
}

/**
 * Event type → bit mask of the funnels (by index in the rule set's list) that have a step on it. One lookup per
 * event says which funnels want it, and whether any does. Cached per list: a reload brings a new list, so the
 * cache never goes stale.
 */
export function funnelMasks(funnels: readonly FunnelDef[]): ReadonlyMap<string, number> {
  let m = maskCache.get(funnels);
  if (!m) {
    m = new Map();
    funnels.forEach((f, i) => {
      for (const s of f.steps) m!.set(s.event, (m!.get(s.event) ?? 0) | funnelBit(i));
    });
    maskCache.set(funnels, m);
  }
  return m;
}
const maskCache = new WeakMap<readonly FunnelDef[], Map<string, number>>();

/** A batch's messages sorted into kept events (parallel arrays), rejects, and a count of ignored ones. */
export interface ClassifiedBatch {
  /** The kept event's index in the batch (offsets increase along it, so "offset > x" is "index >= i"). */
  goodAt: number[];
  goodEvents: FwEvent[];
  /** The kept event's funnel mask (funnelMasks). */
  goodMasks: number[];
  bad: DeadLetter[];
  /** Valid events no funnel has a step on: counted, not kept (the batch holds what it keeps until Redis has it). */
  ignored: number;
  /** Those by event type (absent when there were none). */
  ignoredTypes?: Map<string, number>;
}

export function classifyMessages(
  batch: Pick<SourceBatch, 'topic' | 'partition' | 'messages'>,
  masks: ReadonlyMap<string, number>,
  parse: ParseOptions,
): ClassifiedBatch {
  const messages = batch.messages;
  const out: ClassifiedBatch = { goodAt: [], goodEvents: [], goodMasks: [], bad: [], ignored: 0 };
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const r = parseEvent(m.value, parse);
    if (r.ok) {
      const mask = masks.get(r.event.type);
      if (mask === undefined) {
        out.ignored++;
        const types = (out.ignoredTypes ??= new Map());
        types.set(r.event.type, (types.get(r.event.type) ?? 0) + 1);
        continue;
      }
      out.goodAt.push(i);
      out.goodEvents.push(r.event);
      out.goodMasks.push(mask);
    } else out.bad.push({ raw: rawMessage(batch, m), reason: r.reason, detail: r.detail });
  }
  return out;
}

/** Index of the first message past `offset` (binary search: offsets increase along the batch). */
export function firstIndexAfter(messages: readonly SourceMessage[], offset: number): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Number(messages[mid]!.offset) > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The part of a batch a funnel still needs, given the last offset the store applied for it. */
export interface ApplyRange {
  /** First batch index to apply. */
  fromIndex: number;
  /** The offsets the store records for this apply. */
  firstOffset: number;
  lastOffset: number;
}

/** Null when the store already has the whole batch (a replay after a crash or rebalance). */
export function applyRange(messages: readonly SourceMessage[], storedOffset: number): ApplyRange | null {
  const firstOffset = Number(messages[0]!.offset);
  const lastOffset = Number(messages[messages.length - 1]!.offset);
  if (storedOffset >= lastOffset) return null;
  return {
    fromIndex: storedOffset < firstOffset ? 0 : firstIndexAfter(messages, storedOffset),
    firstOffset: Math.max(firstOffset, storedOffset + 1),
    lastOffset,
  };
}

/** The kept events of the funnel with `bit` at batch index `fromIndex` or later, in batch order. */
export function funnelEvents(c: ClassifiedBatch, funnel: FunnelDef, bit: number, fromIndex: number): FwEvent[] {
  // A shared top bit (funnels past the 31st) is not specific enough: those check the type too.
  const types = bit === SHARED_FUNNEL_BIT ? new Set(funnel.steps.map((st) => st.event)) : undefined;
  const events: FwEvent[] = [];
  for (let i = 0; i < c.goodEvents.length; i++) {
    if ((c.goodMasks[i]! & bit) !== 0 && c.goodAt[i]! >= fromIndex && (!types || types.has(c.goodEvents[i]!.type)))
      events.push(c.goodEvents[i]!);
  }
  return events;
}
