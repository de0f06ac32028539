/**
 * Deploy markers as pure functions: a valid marker becomes a Deploy (defaults, attribute values as strings, blank
 * optional fields dropped), the id depends on (service, version, environment, ts) only and is pinned across
 * releases, every bad field is named with what to do, and stored markers and query times are read back safely.
 */
import { describe, it, expect } from 'vitest';
import {
  DEFAULT_ENVIRONMENT,
  DEPLOY_LIMITS,
  deployId,
  parseStoredDeploy,
  parseWhen,
  validateDeployInput,
  type Deploy,
} from '../../../src/deploys/deploy.js';

const NOW = Date.UTC(2025, 0, 6, 12, 0);
const MIN = 60_000;
const DAY = 86_400_000;

function problems(body: unknown, opts: Parameters<typeof validateDeployInput>[2] = {}): string[] {
  const r = validateDeployInput(body, NOW, opts);
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.value)}`);
  return r.problems;
}

function valid(body: unknown, opts: Parameters<typeof validateDeployInput>[2] = {}): Deploy {
  const r = validateDeployInput(body, NOW, opts);
  if (!r.ok) throw new Error(`expected a valid marker, got ${JSON.stringify(r.problems)}`);
  return r.value;
}

const base = { service: 'payments-service', version: 'v2.3.1' };

describe('validateDeployInput: valid markers', () => {
  it('makes a complete marker a Deploy: id, times, attrs as sorted strings', () => {
    const d = valid({
      service: 'payments-service',
      version: 'v2.3.1',
      environment: 'production',
      ts: '2025-01-06T11:52:00Z',
      commit: '3f9c2ab',
      author: 'ana',
      url: 'https://ci.example.com/builds/220',
      attrs: { payment_provider: 'stripe', canary: true, shard: 3 },
    });
    expect(d).toEqual({
      id: deployId('payments-service', 'v2.3.1', 'production', NOW - 8 * MIN),
      service: 'payments-service',
      version: 'v2.3.1',
      environment: 'production',
      ts: NOW - 8 * MIN,
      commit: '3f9c2ab',
      author: 'ana',
      url: 'https://ci.example.com/builds/220',
      attrs: { canary: 'true', payment_provider: 'stripe', shard: '3' },
      receivedAt: NOW,
    });
    expect(Object.keys(d.attrs!)).toEqual(['canary', 'payment_provider', 'shard']);
  });

  it('defaults environment to production and ts to now (or to the given default, as Kafka does)', () => {
    expect(DEFAULT_ENVIRONMENT).toBe('production');
    expect(valid(base)).toEqual({
      id: deployId('payments-service', 'v2.3.1', 'production', NOW),
      ...base,
      environment: 'production',
      ts: NOW,
      receivedAt: NOW,
    });
    expect(valid(base, { defaultTs: NOW - 3 * MIN }).ts).toBe(NOW - 3 * MIN);
    expect(valid({ ...base, ts: NOW - MIN }, { defaultTs: NOW - 3 * MIN }).ts).toBe(NOW - MIN);
  });

  it('accepts ts as ISO with an offset, as ms, and as a string of ms; trims text', () => {
    expect(valid({ ...base, ts: '2025-01-06T12:30+01:00' }).ts).toBe(NOW - 30 * MIN);
    expect(valid({ ...base, ts: NOW - MIN }).ts).toBe(NOW - MIN);
    expect(valid({ ...base, ts: String(NOW - MIN) }).ts).toBe(NOW - MIN);
    expect(valid({ service: '  payments-service ', version: ' v2.3.1\u0020' })).toMatchObject(base);
  });

  it('allows a little clock skew: up to 5 minutes ahead', () => {
    expect(valid({ ...base, ts: NOW + 5 * MIN }).ts).toBe(NOW + 5 * MIN);
  });

  it('takes "" and null in optional fields as absent (CI templates fill in empty variables)', () => {
    const d = valid({ ...base, environment: '', commit: '', author: '  ', url: null, attrs: null, ts: '' });
    expect(d).toEqual({ id: expect.any(String), ...base, environment: 'production', ts: NOW, receivedAt: NOW });
    expect(valid({ ...base, attrs: {} })).not.toHaveProperty('attrs');
  });

  it('accepts service names with / (monorepo paths) and long but bounded values', () => {
    expect(valid({ ...base, service: 'shop/checkout-web' }).service).toBe('shop/checkout-web');
    expect(valid({ ...base, version: 'v'.repeat(DEPLOY_LIMITS.versionChars) }).version).toHaveLength(
      DEPLOY_LIMITS.versionChars,
    );
  });
});

describe('validateDeployInput: problems, one per field', () => {
  it('names required fields', () => {
    expect(problems({})).toEqual([
      'service: required: the deployed service, e.g. payments-service',
      'version: required: the version deployed, e.g. v2.3.1 or a build number',
    ]);
    expect(problems({ service: '', version: '  ' })).toEqual([
      'service: required: the deployed service, e.g. payments-service',
      'version: required: the version deployed, e.g. v2.3.1 or a build number',
    ]);
  });

  it('refuses bodies that are not objects', () => {
    const msg =
      'the body must be a JSON object with service and version, ' +
      'and optionally environment, ts, commit, author, url and attrs';
    for (const body of [null, undefined, [], 'payments-service', 42]) expect(problems(body)).toEqual([msg]);
  });

  it('says which characters a service and an environment may hold', () => {
    expect(problems({ ...base, service: 'payments service' })).toEqual([
      'service: "payments service" is not a service name: ' +
        'letters, digits, ., _, - and /, starting with a letter or digit',
    ]);
    expect(problems({ ...base, service: '-svc' })).toHaveLength(1);
    expect(problems({ ...base, environment: 'prod/eu' })).toEqual([
      'environment: "prod/eu" is not an environment name: letters, digits, ., _ and -, e.g. production or staging',
    ]);
    expect(problems({ ...base, service: 7, version: ['1'] })).toEqual([
      'service: must be a string (the deployed service, e.g. payments-service)',
      'version: must be a string (the version deployed, e.g. v2.3.1 or a build number)',
    ]);
  });

  it('refuses a version sent as a number, which loses trailing zeros', () => {
    expect(problems({ ...base, version: 2.1 })).toEqual([
      'version: must be a string: quote it ("2.1"); as a number, 2.10 would read 2.1',
    ]);
  });

  it('explains bad times: no zone, seconds instead of ms, the future, older than the retention', () => {
    expect(problems({ ...base, ts: '2025-01-06T12:00:00' })).toEqual([
      'ts: not a time (ISO 8601 with a zone, e.g. 2025-01-06T14:00:00Z, or milliseconds since the epoch): ' +
        'got "2025-01-06T12:00:00"',
    ]);
    expect(problems({ ...base, ts: 'yesterday' })[0]).toMatch(/^ts: not a time \(ISO 8601 with a zone/);
    expect(problems({ ...base, ts: NOW / 1000 })).toEqual([
      `ts: not a time: ${NOW / 1000} looks like seconds since the epoch; send milliseconds (${NOW}) or ` +
        'ISO 8601 with a zone, e.g. 2025-01-06T14:00:00Z, or milliseconds since the epoch',
    ]);
    expect(problems({ ...base, ts: NOW + 5 * MIN + 1 })).toEqual([
      "ts: more than 5 minutes in the future (2025-01-06T12:05:00.001Z; the daemon's time is " +
        "2025-01-06T12:00:00.000Z): check the sender's clock and time zone",
    ]);
    expect(problems({ ...base, ts: NOW - 31 * DAY }, { maxAgeMs: 30 * DAY })).toEqual([
      'ts: 2024-12-06T12:00:00.000Z is older than the deploy retention (30 days): it would be dropped at once',
    ]);
    expect(valid({ ...base, ts: NOW - 29 * DAY }, { maxAgeMs: 30 * DAY }).ts).toBe(NOW - 29 * DAY);
  });

  it('wants an http(s) link in url', () => {
    for (const url of ['ci.example.com/builds/1', 'ftp://ci.example.com/x', 'javascript:alert(1)']) {
      expect(problems({ ...base, url })).toEqual([
        `url: not a URL: ${JSON.stringify(url)}; give an http(s) link, e.g. https://ci.example.com/builds/220`,
      ]);
    }
    expect(problems({ ...base, url: 42 })).toEqual([
      'url: not a URL: give an http(s) link, e.g. https://ci.example.com/builds/220',
    ]);
    expect(problems({ ...base, url: `https://x.example/${'a'.repeat(DEPLOY_LIMITS.urlChars)}` })).toEqual([
      `url: is longer than ${DEPLOY_LIMITS.urlChars} characters`,
    ]);
  });

  it('checks every attribute: name, value type, size, count', () => {
    expect(
      problems({
        ...base,
        attrs: {
          platform: null,
          'bad name': 'x',
          nested: { a: 1 },
          ok: 'fine',
          long: 'x'.repeat(DEPLOY_LIMITS.attrValueChars + 1),
        },
      }),
    ).toEqual([
      'attrs.platform: must be a string, number or boolean',
      'attrs.bad name: "bad name" is not an attribute name: ' +
        'start with a letter or _, then letters, digits, _, . and - (at most 128)',
      'attrs.nested: must be a string, number or boolean',
      `attrs.long: is longer than ${DEPLOY_LIMITS.attrValueChars} characters`,
    ]);
    expect(problems({ ...base, attrs: ['platform=android'] })).toEqual([
      'attrs: must be an object of name → value, e.g. {"platform": "android"}',
    ]);
    const many = Object.fromEntries(Array.from({ length: DEPLOY_LIMITS.attrs + 1 }, (_, i) => [`a${i}`, 'x']));
    expect(problems({ ...base, attrs: many })).toEqual([
      `attrs: holds ${DEPLOY_LIMITS.attrs + 1} attributes; at most ${DEPLOY_LIMITS.attrs}`,
    ]);
  });

  it('refuses control characters, spaces in a commit, and over-long text', () => {
    expect(problems({ ...base, version: 'v1\nv2' })).toEqual([
      'version: must not contain control characters (line breaks, tabs)',
    ]);
    expect(problems({ ...base, commit: '3f9c2ab dirty' })).toEqual([
      'commit: must not contain spaces (a commit id such as 3f9c2ab)',
    ]);
    expect(problems({ ...base, author: 'a'.repeat(DEPLOY_LIMITS.authorChars + 1) })).toEqual([
      `author: is longer than ${DEPLOY_LIMITS.authorChars} characters`,
    ]);
  });

  it('names unknown fields with the field that was probably meant', () => {
    expect(
      problems({ ...base, timestamp: NOW, env: 'prod', servce: 'x', sha: 'abc', tags: {}, id: 'x', colour: 'red' }),
    ).toEqual([
      'timestamp: unknown field (did you mean "ts"?)',
      'env: unknown field (did you mean "environment"?)',
      'servce: unknown field (did you mean "service"?)',
      'sha: unknown field (did you mean "commit"?)',
      'tags: unknown field (did you mean "attrs"?)',
      'id: set by funnelwatch; leave it out',
      'colour: unknown field',
    ]);
  });

  it('reports all problems of a body at once', () => {
    expect(problems({ service: 'a b', version: 3, url: 'nope', attrs: { 'x y': 1 } })).toHaveLength(4);
  });
});

describe('deployId', () => {
  it('depends on service, version, environment and ts only', () => {
    const a = valid({ ...base, ts: NOW - MIN, commit: 'abc', author: 'ana', attrs: { platform: 'android' } });
    const b = valid({ ...base, ts: new Date(NOW - MIN).toISOString(), environment: 'production' });
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^[0-9a-f]{24}$/);
    const ids = new Set([
      a.id,
      valid({ ...base, ts: NOW - MIN + 1 }).id,
      valid({ ...base, ts: NOW - MIN, environment: 'staging' }).id,
      valid({ ...base, ts: NOW - MIN, version: 'v2.3.2' }).id,
      valid({ ...base, ts: NOW - MIN, service: 'payments-api' }).id,
    ]);
    expect(ids.size).toBe(5);
  });

  it('ignores the case of service, version and environment; the marker keeps its spelling', () => {
    const a = valid({ ...base, ts: NOW - MIN });
    const b = valid({
      ...base,
      ts: NOW - MIN,
      service: 'Payments-SERVICE',
      version: 'V2.3.1',
      environment: 'Production',
    });
    expect(b.id).toBe(a.id);
    expect(b).toMatchObject({ service: 'Payments-SERVICE', version: 'V2.3.1', environment: 'Production' });
  });

  it('does not mix up fields that run into each other', () => {
    expect(deployId('a-b', 'c', 'production', 1)).not.toBe(deployId('a', 'b-c', 'production', 1));
  });

  it('is stable across releases (stored markers are matched by it)', () => {
    expect(deployId('payments-service', 'v2.3.1', 'production', NOW)).toBe('be8db51dc1d2fcf940036ac8');
  });
});

describe('parseStoredDeploy', () => {
  it('reads back what validation made, and refuses what is not a Deploy', () => {
    const d = valid({ ...base, commit: 'abc', url: 'https://ci.example.com/1', attrs: { platform: 'android' } });
    expect(parseStoredDeploy(JSON.stringify(d))).toEqual(d);
    for (const bad of [
      'not json',
      '[]',
      '{}',
      JSON.stringify({ ...d, ts: 'x' }),
      JSON.stringify({ ...d, attrs: { a: 1 } }),
      JSON.stringify({ ...d, commit: 7 }),
    ]) {
      expect(parseStoredDeploy(bad)).toBeUndefined();
    }
  });
});

describe('parseWhen (query times)', () => {
  it('reads durations back from now, ms and ISO times; explains the rest', () => {
    expect(parseWhen('24h', NOW)).toEqual({ ok: true, ms: NOW - DAY });
    expect(parseWhen('1h30m', NOW)).toEqual({ ok: true, ms: NOW - 90 * MIN });
    expect(parseWhen(String(NOW), NOW)).toEqual({ ok: true, ms: NOW });
    expect(parseWhen('2025-01-05T12:00:00Z', NOW)).toEqual({ ok: true, ms: NOW - DAY });
    expect(parseWhen('24 hours', NOW)).toEqual({ ok: false, message: expect.stringContaining('did you mean "24h"?') });
    expect(parseWhen('last week', NOW)).toEqual({
      ok: false,
      message: expect.stringMatching(/^"last week" is not a time: give an ISO 8601 time/),
    });
  });
});
