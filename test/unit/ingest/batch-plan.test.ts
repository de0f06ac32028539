import { describe, it, expect } from 'vitest';
import {
  applyRange,
  classifyMessages,
  firstIndexAfter,
  funnelBit,
  funnelEvents,
  funnelMasks,
  SHARED_FUNNEL_BIT,
} from '../../../src/ingest/batch-plan.js';
import type { SourceMessage } from '../../../src/ingest/event-source.js';
import { DEFAULT_PARSE_OPTIONS } from '../../../src/events/parse.js';
import type { FunnelDef } from '../../../src/funnels/funnel.js';

const T0 = Date.UTC(2024, 0, 1);

function funnel(name: string, ...events: string[]): FunnelDef {
  return {
    name,
    entityField: 'entity',
    steps: events.map((event, i) => ({ name: `s${i}`, event })),
    conversionWindowMs: 1,
    bucketMs: 60_000,
    allowedLatenessMs: 0,
    services: [],
    dimensions: [],
    retention: { fineMs: 1, rollupBucketMs: 60_000, rollupMs: 1 },
  };
}

function messages(firstOffset: number, values: (string | null)[]): SourceMessage[] {
  return values.map((v, k) => ({
    offset: String(firstOffset + k),
    value: v === null ? null : Buffer.from(v),
    timestamp: String(T0),
  }));
}

const ev = (type: string, entity = 'e') => JSON.stringify({ id: `${type}-${entity}`, type, ts: T0, entity });
const parse = { ...DEFAULT_PARSE_OPTIONS, now: T0 + 60_000 };

describe('funnel masks', () => {
  it('gives each funnel its bit, shared types both bits, and funnels past the 31st the shared top bit', () => {
    const fs = Array.from({ length: 33 }, (_, i) => funnel(`f${i}`, `start_${i}`, 'done'));
    const m = funnelMasks(fs);
    expect(m.get('start_0')).toBe(1);
    expect(m.get('start_3')).toBe(8);
    expect(m.get('start_30')).toBe(SHARED_FUNNEL_BIT);
    expect(m.get('start_32')).toBe(SHARED_FUNNEL_BIT);
    expect(m.get('done')).toBe(0x7fffffff);
    expect(m.get('page_view')).toBeUndefined();
    expect(funnelMasks(fs)).toBe(m); // cached per list
    expect([0, 1, 29, 30, 31, 100].map(funnelBit)).toEqual([
      1,
      2,
      1 << 29,
      SHARED_FUNNEL_BIT,
      SHARED_FUNNEL_BIT,
      SHARED_FUNNEL_BIT,
    ]);
  });
});

describe('classifyMessages', () => {
  it('keeps events a funnel uses (with their index and mask), counts the others, rejects the invalid', () => {
    const masks = funnelMasks([funnel('a', 'start', 'done'), funnel('b', 'done')]);
    const c = classifyMessages(
      { topic: 't', partition: 3, messages: messages(100, [ev('start'), ev('page_view'), '{x', ev('done'), null]) },
      masks,
      parse,
    );
    expect(c.goodAt).toEqual([0, 3]);
    expect(c.goodEvents.map((e) => e.type)).toEqual(['start', 'done']);
    expect(c.goodMasks).toEqual([1, 3]);
    expect(c.ignored).toBe(1);
    expect(c.bad.map((b) => [b.raw.offset, b.raw.topic, b.raw.partition, b.reason])).toEqual([
      ['102', 't', 3, 'invalid_json'],
      ['104', 't', 3, 'empty'],
    ]);
  });
});

describe('applyRange', () => {
  const ms = messages(100, ['a', 'b', 'c', 'd']);
  it('the whole batch when the store is behind it', () => {
    expect(applyRange(ms, -1)).toEqual({ fromIndex: 0, firstOffset: 100, lastOffset: 103 });
    expect(applyRange(ms, 99)).toEqual({ fromIndex: 0, firstOffset: 100, lastOffset: 103 });
  });
  it('the rest of it when the store has its start', () => {
    expect(applyRange(ms, 100)).toEqual({ fromIndex: 1, firstOffset: 101, lastOffset: 103 });
    expect(applyRange(ms, 102)).toEqual({ fromIndex: 3, firstOffset: 103, lastOffset: 103 });
  });
  it('nothing when the store has all of it', () => {
    expect(applyRange(ms, 103)).toBeNull();
    expect(applyRange(ms, 500)).toBeNull();
  });
  it('finds the first message past an offset across gaps (compacted topics)', () => {
    const gappy: SourceMessage[] = [5, 9, 10, 20].map((o) => ({ offset: String(o), value: null, timestamp: '0' }));
    expect([4, 5, 8, 9, 10, 19, 20].map((o) => firstIndexAfter(gappy, o))).toEqual([0, 1, 1, 2, 3, 3, 4]);
    expect(applyRange(gappy, 8)).toEqual({ fromIndex: 1, firstOffset: 9, lastOffset: 20 });
  });
});

describe('funnelEvents', () => {
  it('selects by bit and index; funnels sharing the top bit also by type', () => {
    const fs = Array.from({ length: 32 }, (_, i) => funnel(`f${i}`, `start_${i}`));
    fs[0] = funnel('f0', 'start_0', 'done');
    const masks = funnelMasks(fs);
    const c = classifyMessages(
      {
        topic: 't',
        partition: 0,
        messages: messages(0, [ev('start_0'), ev('start_30'), ev('done'), ev('start_31'), ev('start_0', 'z')]),
      },
      masks,
      parse,
    );
    expect(funnelEvents(c, fs[0]!, funnelBit(0), 0).map((e) => `${e.type}/${e.entity}`)).toEqual([
      'start_0/e',
      'done/e',
      'start_0/z',
    ]);
    expect(funnelEvents(c, fs[0]!, funnelBit(0), 3).map((e) => `${e.type}/${e.entity}`)).toEqual(['start_0/z']);
    expect(funnelEvents(c, fs[30]!, funnelBit(30), 0).map((e) => e.type)).toEqual(['start_30']);
    expect(funnelEvents(c, fs[31]!, funnelBit(31), 0).map((e) => e.type)).toEqual(['start_31']);
    expect(funnelEvents(c, fs[5]!, funnelBit(5), 0)).toEqual([]);
  });
});
