import { describe, it, expect } from 'vitest';
import { parseEvent, parseTimestamp, DEFAULT_PARSE_OPTIONS, type ParseOptions } from '../../../src/events/parse.js';

const NOW = Date.parse('2026-11-23T14:10:00Z');
const opts: ParseOptions = { ...DEFAULT_PARSE_OPTIONS, now: NOW };
const parse = (v: unknown, o: ParseOptions = opts) => parseEvent(typeof v === 'string' ? v : JSON.stringify(v), o);

describe('parseEvent', () => {
  it('reads the native envelope', () => {
    const r = parse({
      id: 'evt_8f2c',
      type: 'order_completed',
      ts: '2026-11-23T14:07:12.345Z',
      entity: 'chk_91a7',
      attrs: { platform: 'ios', amount: 12.5, paid: true, geo: { region: 'eu' } },
    });
    expect(r).toEqual({
      ok: true,
      envelope: 'native',
      event: {
        id: 'evt_8f2c',
        type: 'order_completed',
        ts: Date.parse('2026-11-23T14:07:12.345Z'),
        entity: 'chk_91a7',
        attrs: { platform: 'ios', amount: '12.5', paid: 'true', 'geo.region': 'eu' },
      },
    });
  });

  it('reads a Segment track call', () => {
    const r = parse({
      type: 'track',
      event: 'Checkout Started',
      messageId: 'm1',
      userId: 'u9',
      timestamp: '2026-11-23T14:00:00Z',
      properties: { platform: 'web' },
    });
    expect(r.ok && r.envelope).toBe('segment');
    expect(r.ok && r.event).toMatchObject({
      id: 'm1',
      type: 'Checkout Started',
      entity: 'u9',
      attrs: { platform: 'web' },
    });
  });

  it('uses anonymousId when a Segment call has no userId', () => {
    const r = parse({ type: 'track', event: 'x', anonymousId: 'anon-1', timestamp: NOW });
    expect(r.ok && r.event.entity).toBe('anon-1');
  });

  it('reads a CloudEvent (subject or data.entity as the entity)', () => {
    const r = parse({
      specversion: '1.0',
      id: 'ce1',
      type: 'signup_started',
      source: '/web',
      time: '2026-11-23T14:01:00Z',
      subject: 'usr_1',
      data: { region: 'us' },
    });
    expect(r.ok && r.envelope).toBe('cloudevents');
    expect(r.ok && r.event).toMatchObject({
      id: 'ce1',
      type: 'signup_started',
      entity: 'usr_1',
      attrs: { region: 'us' },
    });
    const r2 = parse({ specversion: '1.0', id: 'ce2', type: 't', source: 's', time: NOW, data: { entity: 'e2' } });
    expect(r2.ok && r2.event.entity).toBe('e2');
  });

  it('maps field names for producers with their own names', () => {
    const o = {
      ...opts,
      fields: { id: 'event_id', type: 'name', ts: 'occurred_at', entity: 'checkout_id', attrs: 'props' },
    };
    const r = parse(
      { event_id: 'a', name: 'checkout_started', occurred_at: NOW - 1000, checkout_id: 'c1', props: { p: 1 } },
      o,
    );
    expect(r.ok && r.event).toEqual({
      id: 'a',
      type: 'checkout_started',
      ts: NOW - 1000,
      entity: 'c1',
      attrs: { p: '1' },
    });
  });

  it.each([
    ['', 'empty'],
    ['{"type": "x", ', 'invalid_json'],
    ['[1,2]', 'not_an_object'],
    ['"str"', 'not_an_object'],
    [{ hello: 'world' }, 'unknown_envelope'],
    [{ ts: NOW }, 'missing_field'],
    [{ type: 'x' }, 'missing_field'],
    [{ type: 42, ts: NOW }, 'wrong_type'],
    [{ type: 'x', ts: NOW, entity: { a: 1 } }, 'wrong_type'],
    [{ type: 'x', ts: NOW, attrs: [1] }, 'wrong_type'],
    [{ type: 'x', ts: 'yesterday' }, 'invalid_timestamp'],
    [{ type: 'x', ts: '2026-11-23T14:00:00' }, 'invalid_timestamp'],
    [{ type: 'x', ts: NOW + 3_600_000 }, 'future_timestamp'],
    [{ type: 'x', ts: 1_000 }, 'implausible_timestamp'],
    [{ type: 'x', ts: '1999-12-31T23:59:59Z' }, 'implausible_timestamp'],
    [{ type: 'x', ts: '1970-01-01T00:00:17Z' }, 'implausible_timestamp'], // a truncated time
    [{ type: 'x', ts: NOW - 36 * 86_400_000 }, 'too_old'],
    [{ type: 'x', ts: NOW, entity: 'e'.repeat(300) }, 'field_too_long'],
    [{ type: 'x', ts: NOW, attrs: { a: 'v'.repeat(300) } }, 'field_too_long'],
  ])('rejects %j as %s', (input, reason) => {
    const r = parse(input as never);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe(reason);
      expect(r.detail.length).toBeGreaterThan(5);
    }
  });

  it('rejects oversized messages before parsing them', () => {
    const r = parseEvent(Buffer.alloc(70_000, 0x20), opts);
    expect(r).toMatchObject({ ok: false, reason: 'oversized' });
  });

  it('accepts odd Unicode in ids', () => {
    const r = parse({ type: 'checkout_started', ts: NOW, entity: 'chk_🛒_ü\u0000x', id: '\u202e' });
    expect(r.ok && r.event.entity).toBe('chk_🛒_ü\u0000x');
  });
});

describe('parseTimestamp', () => {
  it.each([
    ['2026-11-23T14:07:12.345Z', Date.parse('2026-11-23T14:07:12.345Z')],
    ['2026-11-23T15:07:12+01:00', Date.parse('2026-11-23T14:07:12Z')],
    [1795410000000, 1795410000000],
    ['1795410000000', 1795410000000],
    [1795410000, 1795410000000],
    [-5, null],
    [Number.NaN, null],
    ['2026-13-45T99:00:00Z', null],
    [1e17, null], // beyond the largest valid Date (8.64e15 ms)
  ])('%j → %j', (input, expected) => {
    expect(parseTimestamp(input)).toBe(expected);
  });
});
