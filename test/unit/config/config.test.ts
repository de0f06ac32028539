import { describe, it, expect } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadConfig,
  ConfigError,
  configMarkdown,
  CONFIG_SPEC,
  apiExposureProblem,
  isLoopbackHost,
  hideUrlPasswords,
  configForDisplay,
} from '../../../src/config/config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration from FW_* variables', () => {
  it('applies defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.FW_REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.FW_KAFKA_BROKERS).toEqual([]);
    expect(c.FW_KAFKA_TOPICS).toEqual(['funnel-events']);
    expect(c.FW_HTTP_PORT).toBe(8080);
  });

  it('parses lists, ports and booleans', () => {
    const c = loadConfig({ FW_KAFKA_BROKERS: 'k1:9092, k2:9093', FW_HTTP_PORT: '0', FW_KAFKA_FROM_BEGINNING: 'yes' });
    expect(c.FW_KAFKA_BROKERS).toEqual(['k1:9092', 'k2:9093']);
    expect(c.FW_HTTP_PORT).toBe(0);
    expect(c.FW_KAFKA_FROM_BEGINNING).toBe(true);
  });

  it('names the variable and what it expected when a value is wrong', () => {
    const p = problems({ FW_REDIS_URL: 'nonsense' });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^FW_REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL.*got "nonsense"$/);
  });

  it('refuses canary users in a sharded daemon (they would page once per shard), and allows each alone', () => {
    const p = problems({ FW_EVAL_SHARDING: 'funnel', FW_PROBES_DIR: 'probes' });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^FW_PROBES_DIR: canary users do not run with FW_EVAL_SHARDING=funnel yet/);
    expect(problems({ FW_EVAL_SHARDING: 'funnel' })).toEqual([]);
    expect(problems({ FW_PROBES_DIR: 'probes' })).toEqual([]);
  });

  it('checks the cron schedule and the receiver URLs at start, one line each', () => {
    expect(problems({ FW_TICK_SCHEDULE: '*/10 * * * * *', FW_SLACK_API_URL: 'http://127.0.0.1:9/api/' })).toEqual([]);
    expect(
      problems({ FW_TICK_SCHEDULE: 'every minute', FW_SLACK_API_URL: 'ftp://a/b', FW_PAGERDUTY_URL: 'htps//x' }),
    ).toEqual([
      'FW_TICK_SCHEDULE: expected a node-cron expression with seconds: second minute hour day-of-month month ' +
        'day-of-week, e.g. 5 * * * * *, got "every minute"',
      'FW_SLACK_API_URL: expected an http:// or https:// URL such as https://slack.com/api/, got "ftp://a/b"',
      'FW_PAGERDUTY_URL: expected an http:// or https:// URL such as https://events.pagerduty.com, got "htps//x"',
    ]);
    expect(problems({ FW_TICK_SCHEDULE: '61 * * * * *' })[0]).toMatch(/^FW_TICK_SCHEDULE: expected a node-cron/);
    expect(problems({ FW_SHUTDOWN_TIMEOUT_MS: '10s' })).toEqual([
      'FW_SHUTDOWN_TIMEOUT_MS: expected a whole number of milliseconds, got "10s"',
    ]);
  });

  it('takes a Redis Cluster node list only with FW_REDIS_CLUSTER=true, and checks every node URL', () => {
    expect(loadConfig({}).FW_REDIS_CLUSTER).toBe(false);
    const c = loadConfig({ FW_REDIS_CLUSTER: 'true', FW_REDIS_URL: 'redis://n1:7000,redis://n2:7001' });
    expect(c.FW_REDIS_CLUSTER).toBe(true);
    expect(c.FW_REDIS_URL).toBe('redis://n1:7000,redis://n2:7001');
    expect(problems({ FW_REDIS_URL: 'redis://n1:7000,redis://n2:7001' })).toEqual([
      expect.stringMatching(/^FW_REDIS_URL: a comma-separated list of nodes needs FW_REDIS_CLUSTER=true/),
    ]);
    expect(problems({ FW_REDIS_CLUSTER: 'true', FW_REDIS_URL: 'redis://n1:7000,n2:7001' })).toEqual([
      expect.stringMatching(
        /^FW_REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL.*got "redis:\/\/n1:7000,n2:7001"$/,
      ),
    ]);
  });

  it('takes the watched environment (default production, empty for none) and refuses a name with spaces', () => {
    expect(loadConfig({}).FW_ENVIRONMENT).toBe('production');
    expect(loadConfig({ FW_ENVIRONMENT: 'eu-prod.2' }).FW_ENVIRONMENT).toBe('eu-prod.2');
    expect(loadConfig({ FW_ENVIRONMENT: '' }).FW_ENVIRONMENT).toBe('');
    expect(problems({ FW_ENVIRONMENT: 'prod eu' })).toEqual([
      expect.stringMatching(/^FW_ENVIRONMENT: expected an environment name.*got "prod eu"$/),
    ]);
  });

  it('reports every wrong value at once', () => {
    const p = problems({ FW_HTTP_PORT: '99999', FW_KAFKA_BROKERS: 'no-port', FW_LOG_LEVEL: 'loud' });
    expect(p.map((x) => x.split(':')[0]).sort()).toEqual(['FW_HTTP_PORT', 'FW_KAFKA_BROKERS', 'FW_LOG_LEVEL']);
  });

  it('rejects unknown FW_ variables with a suggestion', () => {
    expect(problems({ FW_REDIS_ULR: 'redis://x:1' })).toEqual([
      'FW_REDIS_ULR: unknown variable (did you mean FW_REDIS_URL?)',
    ]);
  });

  it('reads a config file; the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fwcfg-'));
    const file = join(dir, 'fw.yaml');
    writeFileSync(file, 'redis_url: redis://from-file:6380\nhttp_port: 9000\nkafka_topics: [a, b]\n');
    const c = loadConfig({ FW_CONFIG_FILE: file, FW_HTTP_PORT: '9100' });
    expect(c.FW_REDIS_URL).toBe('redis://from-file:6380');
    expect(c.FW_HTTP_PORT).toBe(9100);
    expect(c.FW_KAFKA_TOPICS).toEqual(['a', 'b']);
    writeFileSync(file, 'redis_ur: x\n');
    expect(problems({ FW_CONFIG_FILE: file })[0]).toMatch(/unknown setting "redis_ur"/);
  });

  it('reads field-name mappings for the native envelope, and rejects malformed ones', () => {
    expect(loadConfig({ FW_EVENT_FIELDS: 'type=event_name, ts=occurred_at' }).FW_EVENT_FIELDS).toEqual({
      type: 'event_name',
      ts: 'occurred_at',
    });
    expect(loadConfig({}).FW_EVENT_FIELDS).toEqual({});
    expect(problems({ FW_EVENT_FIELDS: 'kind=event_name' })[0]).toMatch(
      /^FW_EVENT_FIELDS: expected pairs like type=event_name/,
    );
  });

  it('documents every variable in the generated reference', () => {
    const md = configMarkdown();
    for (const name of Object.keys(CONFIG_SPEC)) expect(md).toContain(`\`${name}\``);
  });
});

describe('closed by default', () => {
  it('binds to loopback by default and needs a token (or FW_AUTH=none) anywhere else', () => {
    const c = loadConfig({});
    expect(c.FW_HTTP_HOST).toBe('127.0.0.1');
    expect(c.FW_AUTH).toBe('token');
    expect(apiExposureProblem(c)).toBeNull();
    for (const host of ['0.0.0.0', '::', '10.0.0.7', 'funnelwatch.internal', '128.0.0.1', '::2']) {
      const p = apiExposureProblem(loadConfig({ FW_HTTP_HOST: host }));
      expect(p).toContain('FW_INGEST_TOKEN');
      expect(p).toContain('FW_AUTH=none');
      expect(apiExposureProblem(loadConfig({ FW_HTTP_HOST: host, FW_INGEST_TOKEN: 't' }))).toBeNull();
      expect(apiExposureProblem(loadConfig({ FW_HTTP_HOST: host, FW_AUTH: 'none' }))).toBeNull();
    }
    expect(problems({ FW_AUTH: 'none', FW_INGEST_TOKEN: 't' })).toEqual([expect.stringMatching(/^FW_AUTH=none/)]);
    expect(problems({ FW_AUTH: 'off' })).toEqual([expect.stringMatching(/^FW_AUTH: expected `token` or `none`/)]);
  });

  it('knows the loopback addresses', () => {
    for (const h of [
      '127.0.0.1',
      '127.8.9.10',
      'localhost',
      'LOCALHOST',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ])
      expect({ h, loopback: isLoopbackHost(h) }).toEqual({ h, loopback: true });
    for (const h of ['0.0.0.0', '::', '', '192.168.1.1', '::ffff:10.0.0.1', 'localhost.example.com', '1::1'])
      expect({ h, loopback: isLoopbackHost(h) }).toEqual({ h, loopback: false });
  });
});

describe('secrets are hidden', () => {
  it('hides passwords in URLs and the secret variables', () => {
    expect(hideUrlPasswords('redis://:pw@r1:6379,rediss://u:p%40ss@r2:6380/0')).toBe(
      'redis://:(hidden)@r1:6379,rediss://u:(hidden)@r2:6380/0',
    );
    expect(hideUrlPasswords('redis://user@r1:6379')).toBe('redis://user@r1:6379');
    const shown = configForDisplay(loadConfig({ FW_INGEST_TOKEN: 'tok', FW_REDIS_URL: 'redis://a:b@h:1' }));
    expect(shown).toMatchObject({ FW_INGEST_TOKEN: '(hidden)', FW_REDIS_URL: 'redis://a:(hidden)@h:1' });
    expect(Object.keys(shown)).toEqual(Object.keys(CONFIG_SPEC));
    expect(problems({ FW_REDIS_URL: 'http://a:hunter2@h:1' }).join('\n')).not.toContain('hunter2');
  });
});
