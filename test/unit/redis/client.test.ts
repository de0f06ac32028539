/** FW_REDIS_URL as one URL or, for a Redis Cluster, a list of nodes: what is accepted and what is refused, by name. */
import { describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { FwError } from '../../../src/core/errors.js';
import { createRedisClient, parseClusterTarget, parseRedisUrls } from '../../../src/redis/client.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FwError);
    expect((err as FwError).retriable).toBe(false);
    return (err as Error).message;
  }
  throw new Error('did not throw');
}

describe('parseRedisUrls', () => {
  it('splits a comma-separated list and checks each entry', () => {
    expect(parseRedisUrls(' redis://a:7000 , rediss://b:7001,').map((u) => u.host)).toEqual(['a:7000', 'b:7001']);
    expect(message(() => parseRedisUrls('redis://a:7000,http://b:7001'))).toMatch(
      /^FW_REDIS_URL: "http:\/\/b:7001" is not a redis:\/\//,
    );
    expect(message(() => parseRedisUrls('not a url', 'MY_VAR'))).toMatch(/^MY_VAR: "not a url" is not a URL/);
    expect(message(() => parseRedisUrls(' , '))).toMatch(/^FW_REDIS_URL is empty/);
  });
});

describe('parseClusterTarget', () => {
  it('reads the seed nodes, default port, credentials and TLS', () => {
    expect(
      parseClusterTarget(
        'rediss://user:p%40ss@node-1:7000,rediss://user:p%40ss@node-2,rediss://user:p%40ss@[::1]:7002',
      ),
    ).toEqual({
      nodes: [
        { host: 'node-1', port: 7000 },
        { host: 'node-2', port: 6379 },
        { host: '::1', port: 7002 },
      ],
      username: 'user',
      password: 'p@ss',
      tls: true,
    });
    expect(parseClusterTarget('redis://10.0.0.1:7000/0')).toEqual({
      nodes: [{ host: '10.0.0.1', port: 7000 }],
      tls: false,
    });
  });

  it('refuses a database number and nodes that disagree on credentials or scheme', () => {
    expect(message(() => parseClusterTarget('redis://a:7000/2'))).toMatch(
      /names database 2, but a Redis Cluster has only database 0/,
    );
    expect(message(() => parseClusterTarget('redis://:x@a:7000,redis://:y@b:7001'))).toMatch(
      /disagree on the scheme or credentials/,
    );
    expect(message(() => parseClusterTarget('redis://a:7000,rediss://b:7001'))).toMatch(/disagree/);
  });
});

describe('createRedisClient', () => {
  it('makes a standalone client for one URL and a Cluster client with FW_REDIS_CLUSTER, neither connected yet', () => {
    const r = createRedisClient({ url: 'redis://127.0.0.1:1' });
    expect(r).toBeInstanceOf(Redis);
    expect(r.status).toBe('wait');
    const c = createRedisClient({ url: 'redis://127.0.0.1:1,redis://127.0.0.1:2', cluster: true });
    expect(c).toBeInstanceOf(Cluster);
    expect(c.status).toBe('wait');
    expect((c as Cluster).options.maxRedirections).toBeLessThanOrEqual(16);
    r.disconnect();
    c.disconnect();
  });

  it('refuses a node list without FW_REDIS_CLUSTER', () => {
    expect(message(() => createRedisClient({ url: 'redis://a:7000,redis://b:7001' }))).toMatch(
      /needs FW_REDIS_CLUSTER=true/,
    );
  });
});
