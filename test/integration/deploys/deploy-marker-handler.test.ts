/**
 * The deploy-marker handler on its own, batches handed over as the KafkaSource hands them, against the real Redis:
 * a batch cut short by a stop during a Redis outage reports how far it got, so the source commits no further.
 */
import { describe, it, expect } from 'vitest';
import { pino } from 'pino';
import {
  createDeployMarkerHandler,
  deployRejectLabel,
  parseDeployMessage,
} from '../../../src/deploys/deploy-marker-handler.js';
import { RedisDeployStore, type DeployStore } from '../../../src/deploys/deploy-store.js';
import type { SourceBatch, SourceMessage } from '../../../src/ingest/event-source.js';
import { FwError } from '../../../src/core/errors.js';
import { systemClock } from '../../../src/core/clock.js';
import { redisClient, uniquePrefix } from '../../support/env.js';

const MIN = 60_000;

function message(offset: number, body: unknown): SourceMessage {
  return { offset: String(offset), value: Buffer.from(JSON.stringify(body)), timestamp: String(Date.now()) };
}

function batchOf(messages: SourceMessage[], active: () => boolean): SourceBatch {
  return {
    topic: 'deploys',
    partition: 0,
    messages,
    highWatermark: String(Number(messages.at(-1)!.offset) + 1),
    heartbeat: async () => {},
    isActive: active,
  };
}

describe('deploy-marker handler', () => {
  it('handles a whole batch: stored, rejected, all done', async () => {
    const store = new RedisDeployStore({ redis: redisClient(), prefix: uniquePrefix() });
    const rejected: string[] = [];
    const handler = createDeployMarkerHandler({
      store,
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      onRejected: (r) => rejected.push(r),
    });
    const res = await handler(
      batchOf(
        [
          message(10, { service: 'a', version: 'v1', ts: Date.now() - MIN }),
          message(11, { version: 'v1' }),
          message(12, { service: 'b', version: 'v2', ts: Date.now() - MIN }),
        ],
        () => true,
      ),
    );
    expect(res).toEqual({ doneThrough: '12' });
    expect(rejected).toHaveLength(1);
    expect((await store.list()).map((d) => d.service).sort()).toEqual(['a', 'b']);
  });

  it('stopped during a Redis outage: done through the last stored marker only', async () => {
    const real = new RedisDeployStore({ redis: redisClient(), prefix: uniquePrefix() });
    let active = true;
    const flaky: DeployStore = {
      retentionMs: real.retentionMs,
      add: (d) => {
        if (d.service !== 'second') return real.add(d);
        active = false; // the stop arrives while Redis is failing
        return Promise.reject(new FwError('DEPLOY_REDIS', 'storing deploy: Connection is closed.'));
      },
      list: (q) => real.list(q),
      between: (a, b) => real.between(a, b),
      get: (id) => real.get(id),
    };
    const rejected: string[] = [];
    const handler = createDeployMarkerHandler({
      store: flaky,
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      onRejected: (r) => rejected.push(r),
    });
    const res = await handler(
      batchOf(
        [
          message(5, { service: 'first', version: 'v1', ts: Date.now() - MIN }),
          message(6, { service: 'second', version: 'v1', ts: Date.now() - MIN }),
          message(7, { service: 'third', version: 'v1', ts: Date.now() - MIN }),
        ],
        () => active,
      ),
    );
    expect(res).toEqual({ doneThrough: '5' });
    expect(rejected).toEqual([]);
    expect((await real.list()).map((d) => d.service)).toEqual(['first']);
  });

  it('parses and labels rejections', () => {
    expect(parseDeployMessage(null)).toMatchObject({ ok: false, reason: expect.stringMatching(/^empty/) });
    expect(parseDeployMessage(Buffer.alloc(70_000, 0x20))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^message of 70000 bytes/),
    });
    expect(parseDeployMessage(Buffer.from('{'))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^not JSON/),
    });
    expect(parseDeployMessage(Buffer.from('{"a":1}'))).toEqual({ ok: true, body: { a: 1 } });
    expect(['empty message', 'message of 9 bytes', 'not JSON: x', 'service: required'].map(deployRejectLabel)).toEqual([
      'empty',
      'too_large',
      'not_json',
      'invalid',
    ]);
  });
});
