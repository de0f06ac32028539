/**
 * The daemon's Redis connection. Commands fail fast while Redis is away: one issued while disconnected waits
 * in ioredis' offline queue for at most one reconnection attempt (maxRetriesPerRequest: 1), then fails. The
 * consumer then holds its batch uncommitted and retries, and /readyz says why. ioredis keeps reconnecting with
 * capped backoff on its own.
 */
import { Redis } from 'ioredis';
import type { Logger } from './obs/logger.js';
import type { ReadinessCheck } from './http/readiness.js';

export function createRedis(url: string, logger: Logger): Redis {
  const log = logger.child({ component: 'redis' });
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
  });
  let down = false;
  redis.on('error', (err) => {
    if (!down) log.error({ err: err.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis connection restored');
    down = false;
  });
  return redis;
}

export function redisReadiness(redis: Redis): ReadinessCheck {
  return {
    name: 'redis',
    check: async () => {
      if (redis.status !== 'ready') return `redis is ${redis.status} (not reachable)`;
      const pong = await redis.ping();
      return pong === 'PONG' ? null : `redis answered ${pong} to PING`;
    },
  };
}
