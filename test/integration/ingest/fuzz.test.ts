/**
 * Bad input never stops the consumer and is never lost: random and mutated messages interleaved with valid ones.
 * Which messages are invalid is known by construction (not by asking the parser), so the test checks the parser
 * as much as the plumbing: every valid event is counted, every invalid one is in the dead-letter topic with its
 * reason and original bytes.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { mulberry32 } from '../../../src/core/prng.js';
import { DLQ_HEADERS } from '../../../src/ingest/dead-letter.js';
import { redisUrl, kafkaBrokers, kafka, producer, uniquePrefix, uniqueName, eventually } from '../../support/env.js';

type Msg = { value: Buffer; valid: boolean; why: string };

function makeMessages(n: number, seed: number, now: number): Msg[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const weird = [
    'chk_🛒',
    'ü\u0301ber',
    '\u202eevil',
    'tab\there',
    'nul\u0000byte',
    'émoji🔥🔥',
    '中文结账',
    '\ud83d',
    'a"quote',
    'back\\slash',
    ' ',
    '{brace}',
  ];
  const out: Msg[] = [];
  for (let i = 0; i < n; i++) {
    const entity = rnd() < 0.1 ? `${pick(weird)}-${i}` : `chk_${seed}_${i}`;
    // Event time rises with the index: nothing is later than the allowed lateness, so every valid event counts.
    const good = {
      id: `e${i}`,
      type: 'checkout_started',
      ts: now - 30 * 60_000 + Math.floor((i * 20 * 60_000) / n),
      entity,
      attrs: { platform: pick(['ios', 'android', 'web']) },
    };
    const json = JSON.stringify(good);
    const r = rnd();
    if (r < 0.5) out.push({ value: Buffer.from(json), valid: true, why: 'valid' });
    else if (r < 0.58)
      out.push({
        value: Buffer.from(json.slice(0, Math.floor(rnd() * (json.length - 1)))),
        valid: false,
        why: 'truncated',
      });
    else if (r < 0.64) {
      const b = Buffer.alloc(1 + Math.floor(rnd() * 300));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      b[0] = 0xff; // never a JSON start byte: garbage stays garbage
      out.push({ value: b, valid: false, why: 'garbage' });
    } else if (r < 0.7)
      out.push({
        value: Buffer.from(JSON.stringify({ ...good, type: pick([42, null, true, ['a'], { x: 1 }]) })),
        valid: false,
        why: 'wrong type',
      });
    else if (r < 0.75)
      out.push({
        value: Buffer.from(JSON.stringify({ ...good, ts: pick(['yesterday', '2026-02-30T25:00:00Z', -1, {}, '']) })),
        valid: false,
        why: 'bad ts',
      });
    else if (r < 0.79)
      out.push({ value: Buffer.from(JSON.stringify({ ...good, ts: now + 86_400_000 })), valid: false, why: 'future' });
    else if (r < 0.83)
      out.push({
        value: Buffer.from(JSON.stringify({ ...good, entity: 'x'.repeat(5000 + Math.floor(rnd() * 50_000)) })),
        valid: false,
        why: 'huge string',
      });
    else if (r < 0.85)
      out.push({
        value: Buffer.from(JSON.stringify({ ...good, attrs: { blob: 'y'.repeat(70_000) } })),
        valid: false,
        why: 'oversized',
      });
    else if (r < 0.9)
      out.push({
        value: Buffer.from(JSON.stringify(pick([[], 'str', 12, null, { hello: 'world' }]))),
        valid: false,
        why: 'not an event',
      });
    else if (r < 0.93) out.push({ value: Buffer.alloc(0), valid: false, why: 'empty' });
    else if (r < 0.96)
      out.push({
        value: Buffer.from(JSON.stringify({ ...good, type: 'page_viewed', entity: `other_${i}` })),
        valid: true,
        why: 'unused type',
      });
    else
      out.push({
        value: Buffer.from(JSON.stringify({ ...good, entity: 12345 + i })),
        valid: true,
        why: 'numeric entity',
      });
  }
  return out;
}

describe('fuzzed input on the events topic', () => {
  it(
    'never crashes the consumer, ' + 'counts every valid event and dead-letters every invalid one with its reason',
    async () => {
      const now = Date.now();
      const topic = uniqueName('events');
      const dlq = uniqueName('dlq');
      const msgs = makeMessages(4000, 99, now);
      const config = loadConfig({
        FW_REDIS_URL: redisUrl(),
        FW_REDIS_PREFIX: uniquePrefix(),
        FW_HTTP_PORT: '0',
        FW_HTTP_HOST: '127.0.0.1',
        FW_RULES_DIR: 'rules',
        FW_KAFKA_BROKERS: kafkaBrokers().join(','),
        FW_KAFKA_TOPICS: topic,
        FW_KAFKA_DLQ_TOPIC: dlq,
        FW_KAFKA_GROUP: uniqueName('g'),
        FW_KAFKA_FROM_BEGINNING: 'true',
      });
      const daemon = new Daemon({ config, logger: pino({ level: process.env.FUZZ_LOG ?? 'silent' }) });
      onTestFinished(() => daemon.stop());
      await daemon.start();

      const p = await producer();
      for (let i = 0; i < msgs.length; i += 500) {
        await p.send({
          topic,
          messages: msgs
            .slice(i, i + 500)
            .map((m, k) => ({ key: `k${i + k}`, value: m.value, headers: { 'x-test-index': String(i + k) } })),
        });
      }

      const checkout = daemon.rules.current!.funnels.find((f) => f.name === 'checkout')!;
      const validStarts = msgs.filter((m) => m.valid && m.why !== 'unused type').length;
      const invalid = msgs.filter((m) => !m.valid);
      await eventually(
        async () => {
          const t = await daemon.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 3_600_000 });
          return t.volume[0] === validStarts ? true : undefined;
        },
        60_000,
        `${validStarts} valid checkout starts counted`,
      );

      const consumer = kafka().consumer({ groupId: uniqueName('dlq-reader') });
      await consumer.connect();
      onTestFinished(() => consumer.disconnect());
      await consumer.subscribe({ topic: dlq, fromBeginning: true });
      const dead = new Map<number, { reason: string; value: Buffer; offset: string }>();
      await consumer.run({
        eachMessage: async ({ message }) => {
          const h = (k: string) => message.headers?.[k]?.toString() ?? '';
          dead.set(Number(h('x-test-index')), {
            reason: h(DLQ_HEADERS.reason),
            value: message.value ?? Buffer.alloc(0),
            offset: h(DLQ_HEADERS.offset),
          });
        },
      });
      await eventually(
        () => (dead.size >= invalid.length ? true : undefined),
        60_000,
        `${invalid.length} dead letters`,
      );

      expect(dead.size).toBe(invalid.length);
      msgs.forEach((m, i) => {
        const d = dead.get(i);
        if (m.valid) expect(d, `message ${i} (${m.why}) must not be dead-lettered`).toBeUndefined();
        else {
          expect(d, `message ${i} (${m.why}) must be dead-lettered`).toBeDefined();
          expect(d!.reason).toMatch(/^[a-z_]+$/);
          expect(d!.value.equals(m.value), `message ${i} keeps its original bytes`).toBe(true);
        }
      });
      const metrics = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
      const rejected = [...metrics.matchAll(/^fw_events_rejected_total\{reason="([a-z_]+)"\} (\d+)/gm)].reduce(
        (a, m) => a + Number(m[2]),
        0,
      );
      expect(rejected).toBe(invalid.length);
      expect(metrics).toMatch(/^fw_events_ignored_total \d+/m);
      expect((await fetch(`${daemon.httpUrl}/readyz`)).status).toBe(200);
    },
  );
});
