/**
 * The API's error answers through the real server builder (buildHttpServer) with real Redis-backed routes, called
 * with inject: an internal failure answers 500 without its details, a bad request 400 with its code, fastify's own
 * client errors their 4xx, and a Redis outage 503. No stand-in for Redis: the "internal" case is a key of the wrong
 * type in a real Redis (a broken invariant, as a stray write would leave), the outage a client of a closed port.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import type { FastifyPluginAsync } from 'fastify';
import { buildHttpServer } from '../../../src/http/server.js';
import { alertRoutes } from '../../../src/http/alert-routes.js';
import { deployRoutes } from '../../../src/http/deploy-routes.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { RedisDeployStore } from '../../../src/deploys/deploy-store.js';
import { ManualClock } from '../../../src/core/clock.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { Readiness } from '../../../src/http/readiness.js';
import { redisClient, uniquePrefix } from '../../support/env.js';

const T0 = Date.UTC(2025, 0, 6, 12, 0);

/** A client of a port nothing listens on, failing at once: Redis is away. */
function deadRedis(): Redis {
  const redis = new Redis({
    port: 1,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  onTestFinished(() => redis.disconnect());
  return redis;
}

/** A route with a plain bug in it, registered like any feature's routes. */
const buggyRoute: FastifyPluginAsync = async (app) => {
  app.get('/test/bug', async () => {
    const settings = JSON.parse('{}') as { limits: { max: number } };
    return { max: settings.limits.max };
  });
};

async function start(redis: Redis) {
  const prefix = uniquePrefix();
  const clock = new ManualClock(T0);
  const logger = pino({ level: 'silent' });
  const app = buildHttpServer({
    logger,
    metrics: new Metrics({ defaultMetrics: false }),
    readiness: new Readiness(),
    version: 'test',
    routes: [
      alertRoutes({ alerts: new RedisAlertStore({ redis, prefix }), rules: () => undefined, token: '' }),
      deployRoutes({ store: new RedisDeployStore({ redis, prefix, clock: () => clock.now() }), token: '', clock }),
      buggyRoute,
    ],
  });
  onTestFinished(() => app.close());
  await app.ready();
  return { app, prefix };
}

const marker = { service: 'payments-service', version: 'v2.3.1', ts: '2025-01-06T11:52:00Z' };

describe('HTTP error answers', () => {
  it("answers a bug in a route 500 INTERNAL, without the bug's text", async () => {
    const { app } = await start(redisClient());
    const r = await app.inject({ method: 'GET', url: '/test/bug' });
    expect(r.statusCode).toBe(500);
    const body = r.json() as { error: string; message: string };
    const generic = /^internal error; the daemon log has the details \(request .+\)$/;
    expect(body).toEqual({ error: 'INTERNAL', message: expect.stringMatching(generic) });
    expect(body.message).not.toMatch(/limits|undefined/);
  });

  it("answers an internal Redis failure (a wrong-typed key) 500 with its code, without Redis's reply", async () => {
    const redis = redisClient();
    const { app, prefix } = await start(redis);
    await redis.set(alertsKeys(prefix).state, 'not a hash');
    const r = await app.inject({ method: 'GET', url: '/v1/alerts' });
    expect(r.statusCode).toBe(500);
    const body = r.json() as { error: string; message: string };
    expect(body.error).toBe('ALERT_REDIS_REPLY');
    expect(body.message).not.toContain('WRONGTYPE');
  });

  it("answers bad requests 400 with their code, and fastify's client errors their 4xx", async () => {
    const { app } = await start(redisClient());
    const badQuery = await app.inject({ method: 'GET', url: '/v1/alerts?status=bogus' });
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json()).toMatchObject({ error: 'BAD_REQUEST', message: expect.stringContaining('status') });
    const badMarker = await app.inject({ method: 'POST', url: '/v1/deploys', payload: { ...marker, version: '' } });
    expect(badMarker.statusCode).toBe(400);
    expect(badMarker.json()).toMatchObject({ error: 'BAD_DEPLOY' });

    const json = { 'content-type': 'application/json' };
    const broken = await app.inject({ method: 'POST', url: '/v1/deploys', headers: json, payload: '{"service": ' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({ error: 'BAD_REQUEST', message: expect.stringMatching(/JSON/) });
    const empty = await app.inject({ method: 'POST', url: '/v1/deploys', headers: json, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ error: 'BAD_REQUEST' });
    const big = { ...marker, author: 'x'.repeat(100_000) };
    const huge = await app.inject({ method: 'POST', url: '/v1/deploys', payload: big });
    expect(huge.statusCode).toBe(413);
    expect(huge.json()).toMatchObject({ error: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/too large/i) });
    const csvType = { 'content-type': 'text/csv' };
    const csv = await app.inject({ method: 'POST', url: '/v1/deploys', headers: csvType, payload: 'a,b' });
    expect(csv.statusCode).toBe(415);
    expect(csv.json()).toMatchObject({ error: 'UNSUPPORTED_MEDIA_TYPE' });
    const nowhere = await app.inject({ method: 'GET', url: '/v1/nowhere' });
    expect(nowhere.statusCode).toBe(404);
    expect(nowhere.json()).toMatchObject({ error: 'NOT_FOUND' });
  });

  it("answers 503 with the area's code and a message to act on while Redis is away", async () => {
    const { app } = await start(deadRedis());
    const alerts = await app.inject({ method: 'GET', url: '/v1/alerts' });
    expect(alerts.statusCode).toBe(503);
    const why = expect.stringContaining('loading alert states');
    expect(alerts.json()).toMatchObject({ error: 'ALERT_REDIS_UNAVAILABLE', message: why });
    const deploys = await app.inject({ method: 'POST', url: '/v1/deploys', payload: marker });
    expect(deploys.statusCode).toBe(503);
    expect(deploys.json()).toMatchObject({ error: 'DEPLOY_REDIS' });
  });
});
