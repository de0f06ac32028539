/**
 * The ingest pipeline on one batch, against the real window store on the test Redis: which funnel gets which
 * events (including past the 31 funnels a bit mask can tell apart, and a type two funnels share), events of types no
 * funnel uses counted and not applied, invalid ones to the dead-letter sink, offsets skipped on redelivery.
 */
import { describe, it, expect } from 'vitest';
import { pino } from 'pino';
import { createIngestHandler } from '../../../src/ingest/pipeline.js';
import type { DeadLetter } from '../../../src/ingest/dead-letter.js';
import type { RawMessage, SourceBatch } from '../../../src/ingest/event-source.js';
import { DEFAULT_PARSE_OPTIONS } from '../../../src/events/parse.js';
import type { FunnelDef } from '../../../src/funnels/funnel.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { ManualClock } from '../../../src/core/clock.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { redisClient, uniquePrefix } from '../../support/env.js';
import { checkoutFunnel, MIN, T0 } from '../windows/fixtures.js';
import { windowQueries } from '../../support/window-queries.js';

/** Funnel i: entry `start_<i>`, then `done_<i>`; the last one also enters on funnel 0's `start_0`. */
function funnels(n: number): FunnelDef[] {
  return Array.from({ length: n }, (_, i) =>
    checkoutFunnel({
      name: `f${i}`,
      steps: [
        { name: 'start', event: i === n - 1 ? 'start_0' : `start_${i}` },
        { name: 'done', event: `done_${i}` },
      ],
      dimensions: [{ name: 'platform', maxValues: 4 }],
    }),
  );
}

function batch(values: string[], firstOffset: number): SourceBatch {
  const messages: RawMessage[] = values.map((v, k) => ({
    topic: 'events',
    partition: 0,
    offset: String(firstOffset + k),
    key: null,
    value: Buffer.from(v),
    headers: {},
    timestamp: String(T0),
  }));
  return {
    topic: 'events',
    partition: 0,
    messages,
    highWatermark: String(firstOffset + values.length),
    heartbeat: async () => {},
    isActive: () => true,
  };
}

const event = (type: string, entity: string, ts: number, attrs: Record<string, unknown> = { platform: 'ios' }) =>
  JSON.stringify({ id: `${type}-${entity}`, type, ts, entity, attrs });

describe('ingest pipeline', () => {
  it(
    'hands every funnel exactly its events, past 31 funnels too; ' + 'counts ignored types; dead-letters the invalid',
    async () => {
      const defs = funnels(34);
      const store = new RedisWindowStore({ redis: redisClient(), prefix: uniquePrefix() });
      const metrics = new Metrics();
      const dead: DeadLetter[] = [];
      const handler = createIngestHandler({
        funnels: () => defs,
        store,
        metrics,
        logger: pino({ level: 'silent' }),
        clock: new ManualClock(T0 + 10 * MIN),
        deadLetters: {
          send: async (items) => {
            dead.push(...items);
          },
        },
        parse: DEFAULT_PARSE_OPTIONS,
      });
      const values: string[] = [];
      // Funnel i gets i+1 entries and i+1 completions (nested attributes take the copying path, flat ones do not).
      defs.forEach((_, i) => {
        if (i === defs.length - 1) return; // enters on start_0: counted below with funnel 0
        for (let e = 0; e <= i; e++) {
          values.push(
            event(
              `start_${i}`,
              `c${i}-${e}`,
              T0 + e * 1000,
              e % 2 ? { platform: 'ios' } : { platform: 'web', cart: { items: 2 } },
            ),
          );
          values.push(event(`done_${i}`, `c${i}-${e}`, T0 + e * 1000 + 500));
        }
      });
      values.push(event('done_33', 'c0-0', T0 + 2000)); // the last funnel's completion for funnel 0's entity
      values.push(event('page_view', 'x', T0), event('page_view', 'y', T0)); // no funnel uses it
      values.push('{not json', JSON.stringify({ type: 'start_1', entity: 'z' })); // invalid JSON, no timestamp
      await handler(batch(values, 100));

      for (let i = 0; i < defs.length; i++) {
        const t = await store.stepTotals({ funnel: defs[i]!, from: T0 - MIN, to: T0 + 60 * MIN });
        if (i === defs.length - 1)
          expect(t.volume, defs[i]!.name).toEqual([1, 1]); // start_0 once, done_33 once
        else expect(t.volume, defs[i]!.name).toEqual([i + 1, i + 1]);
      }
      const m = await metrics.registry.getSingleMetricAsString('fw_events_ignored_total');
      expect(m).toMatch(/^fw_events_ignored_total 2$/m);
      expect(dead.map((d) => d.reason).sort()).toEqual(['invalid_json', 'missing_field']);
      expect(dead.map((d) => d.raw.offset).sort()).toEqual([
        String(100 + values.length - 2),
        String(100 + values.length - 1),
      ]);

      // Redelivery of the same batch (a crash before the commit): nothing counted twice.
      await handler(batch(values, 100));
      const again = await store.stepTotals({ funnel: defs[5]!, from: T0 - MIN, to: T0 + 60 * MIN });
      expect(again.volume).toEqual([6, 6]);
      // The dimension values came through both attribute paths (flat objects kept, nested ones flattened).
      const dims = await windowQueries(store).dimensionVolume({
        funnel: defs[5]!,
        dimension: 'platform',
        from: T0 - MIN,
        to: T0 + 60 * MIN,
      });
      expect(dims.values).toEqual({ ios: [3, 6], web: [3, 0] });
    },
  );
});
