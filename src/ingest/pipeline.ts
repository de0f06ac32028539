/**
 * The ingest pipeline for one batch of one partition: parse and validate every message, send the rejects to the
 * dead-letter sink, then apply the good events to each funnel's windows with the store's exactly-once apply (one
 * call per funnel and partition). The handler resolves only when all of that is durable; the source commits then.
 *
 * Exactly-once: the store keeps, per (funnel, partition), the last offset applied, in the same Lua call as the
 * counts. Messages at or below it are skipped here; should this replica's view be stale (another replica applied
 * after a rebalance), the store refuses the batch as a duplicate and we refilter from the offset it reports.
 */
import type { Clock } from '../clock.js';
import type { FwEvent } from '../events/event.js';
import { parseEvent, type ParseOptions } from '../events/parse.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { DeadLetter, DeadLetterSink } from './dead-letter.js';
import { rawMessage, type BatchHandler, type SourceBatch } from './event-source.js';
import type { WindowStore } from '../windows/window-store.js';
import { FwError } from '../errors.js';

/** What ingest needs from the window store. */
export type ApplyPort = Pick<WindowStore, 'applyBatch' | 'getOffsets'>;

export interface PipelineDeps {
  /** The funnels currently defined (hot-reloaded rule set). */
  funnels: () => readonly FunnelDef[];
  store: ApplyPort;
  deadLetters: DeadLetterSink;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  parse: Omit<ParseOptions, 'now'>;
}

/**
 * Event type → bit mask of the funnels (by index in the rule set's list) that have a step on it. A reload brings a
 * new list, so this never goes stale. One lookup per event says which funnels want it, and whether any does.
 */
const funnelMasks = new WeakMap<readonly FunnelDef[], Map<string, number>>();
function funnelMaskOf(funnels: readonly FunnelDef[]): Map<string, number> {
  let m = funnelMasks.get(funnels);
  if (!m) {
    m = new Map();
    // Past 31 funnels the bits run out: those share the top bit and filter by type themselves (see applyFunnel).
    funnels.forEach((f, i) => { for (const s of f.steps) m!.set(s.event, (m!.get(s.event) ?? 0) | (1 << Math.min(i, 30))); });
    funnelMasks.set(funnels, m);
  }
  return m;
}

export function createIngestHandler(deps: PipelineDeps): BatchHandler {
  const stored = new Map<string, number>(); // `${funnel}\u0000${partition}` → last applied offset
  const log = deps.logger.child({ component: 'ingest' });

  async function storedOffset(funnel: FunnelDef, partition: string): Promise<number> {
    const k = `${funnel.name}\u0000${partition}`;
    let v = stored.get(k);
    if (v === undefined) {
      v = (await deps.store.getOffsets(funnel, [partition])).get(partition) ?? -1;
      stored.set(k, v);
    }
    return v;
  }

  return async (batch: SourceBatch) => {
    const started = process.hrtime.bigint();
    const now = deps.clock.now();
    const parseOpts: ParseOptions = { ...deps.parse, now };
    const funnels = deps.funnels();
    const maskOf = funnelMaskOf(funnels);
    // Parallel arrays, not an object per event: this runs for every consumed message. Events no funnel uses are
    // counted and not kept: the batch holds what it keeps until Redis has it.
    // goodAt: the event's index in the batch (offsets increase along it, so "offset > x" is "index >= i").
    const messages = batch.messages;
    const goodAt: number[] = [];
    const goodEvents: FwEvent[] = [];
    const goodMasks: number[] = [];
    const bad: DeadLetter[] = [];
    let ignored = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const r = parseEvent(m.value, parseOpts);
      if (r.ok) {
        const mask = maskOf.get(r.event.type);
        if (mask === undefined) { ignored++; continue; }
        goodAt.push(i);
        goodEvents.push(r.event);
        goodMasks.push(mask);
      } else bad.push({ raw: rawMessage(batch, m), reason: r.reason, detail: r.detail });
    }
    if (bad.length > 0) {
      await deps.deadLetters.send(bad, now);
      for (const b of bad) deps.metrics.eventsRejected.inc({ reason: b.reason });
      log.warn({ topic: batch.topic, partition: batch.partition, rejected: bad.length, first: { offset: bad[0]!.raw.offset, reason: bad[0]!.reason, detail: bad[0]!.detail } }, 'events rejected to the dead-letter topic');
    }

    if (ignored) deps.metrics.eventsIgnored.inc(ignored);

    const partition = batch.partitionId ?? String(batch.partition);
    const lastOffset = Number(messages[messages.length - 1]!.offset);
    const firstBatchOffset = Number(messages[0]!.offset);
    /** Index of the first message past `offset` (binary search: offsets increase along the batch). */
    const firstAfter = (offset: number): number => {
      let lo = 0;
      let hi = messages.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (Number(messages[mid]!.offset) > offset) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
    // Funnels are independent key spaces: apply them concurrently (ioredis pipelines the calls on one connection).
    // Store failures come back classified (FwError); anything else meets the consumer's one rule (isRetriable).
    await Promise.all(funnels.map(async (funnel, i) => applyFunnel(funnel, 1 << Math.min(i, 30))));
    await batch.heartbeat();
    deps.metrics.batchesApplied.inc({ outcome: 'applied' });
    deps.metrics.batchApplySeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);

    async function applyFunnel(funnel: FunnelDef, bit: number): Promise<void> {
      // A shared top bit (funnels past the 31st) is not specific enough: those check the type too.
      const types = bit === 1 << 30 ? new Set(funnel.steps.map((st) => st.event)) : undefined;
      const key = `${funnel.name}\u0000${partition}`;
      for (let attempt = 0; ; attempt++) {
        const after = await storedOffset(funnel, partition);
        if (after >= lastOffset) return; // all of it was applied before (replay after a crash or rebalance)
        const from = after < firstBatchOffset ? 0 : firstAfter(after);
        const events: FwEvent[] = [];
        for (let i = 0; i < goodEvents.length; i++) {
          if ((goodMasks[i]! & bit) !== 0 && goodAt[i]! >= from && (!types || types.has(goodEvents[i]!.type))) events.push(goodEvents[i]!);
        }
        const res = await deps.store.applyBatch({ funnel, partition, firstOffset: Math.max(firstBatchOffset, after + 1), lastOffset, events, now });
        if (res.status === 'applied') {
          stored.set(key, lastOffset);
          const c = res.counts;
          const applied = c.entries + c.steps;
          if (applied) deps.metrics.eventsApplied.inc({ funnel: funnel.name }, applied);
          for (const [outcome, n] of [['entry', c.entries], ['step', c.steps], ['duplicate', c.duplicates], ['out_of_order', c.outOfOrder],
            ['no_entry', c.noEntry], ['expired', c.expired], ['late_cohort', c.lateCohort]] as const) {
            if (n) deps.metrics.windowOutcomes.inc({ funnel: funnel.name, outcome }, n);
          }
          if (res.counts.lateDropped) deps.metrics.eventsLate.inc({ funnel: funnel.name }, res.counts.lateDropped);
          if (res.watermark !== undefined) deps.metrics.watermarkAge.set({ funnel: funnel.name }, Math.max(0, (now - res.watermark) / 1000));
          return;
        }
        stored.set(key, res.storedOffset);
        if (attempt > 3) throw new FwError('WINDOW_REFUSED', `window store keeps refusing ${funnel.name}/${partition} at offset ${res.storedOffset}`);
      }
    }
  };
}
