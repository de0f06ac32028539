/**
 * Replay end to end on a real Redis: a recorded shop stream with a known payment-provider outage must fire the
 * provider's alert within minutes of the outage and resolve after it; two runs (and a gzipped copy) must write the
 * same bytes; the daemon's own loop (events applied through the window store, compaction, the evaluator ticked
 * minute by minute) must produce the same transitions; and the CLI must refuse bad input with exit 1.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ManualClock } from '../../../src/core/clock.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { Evaluator } from '../../../src/engine/evaluator.js';
import { LeaderLease } from '../../../src/engine/lease.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { RedisCompletenessStore } from '../../../src/engine/completeness-store.js';
import { RedisDeployStore } from '../../../src/deploys/deploy-store.js';
import { loadRuleDir } from '../../../src/rules/loader.js';
import { createLogger } from '../../../src/obs/logger.js';
import { runReplay, type ReplaySummary } from '../../../src/replay/replay.js';
import { redisClient, redisUrl, uniquePrefix } from '../../support/env.js';
import { DROP_AT, MIN, MINUTES, RECOVER_AT, T0, ndjson, shopMinutes, tempDir, writeRules } from './fixture.js';

const run = promisify(execFile);

interface Line {
  time: string;
  rule: string;
  segment: string | null;
  kind: string;
  from: string;
  to: string;
  onset: string | null;
  observedRate: number | null;
  expectedRate: number | null;
  deploys: { service: string; why: string }[];
  drilldown: { summary: string } | null;
}

let dir: string;
let rulesDir: string;
let eventsFile: string;
const minutes = shopMinutes();
/** The replay of the plain file without deploy markers, compared against by the later tests. */
let plain: { text: string; summary: ReplaySummary };

async function replay(
  files: string[],
  extra: { deploysFile?: string } = {},
): Promise<{ text: string; summary: ReplaySummary }> {
  const lines: string[] = [];
  const summary = await runReplay({
    events: files,
    rulesDir,
    redisUrl: redisUrl(),
    out: (l) => void lines.push(l),
    ...extra,
  });
  return { text: lines.map((l) => `${l}\n`).join(''), summary };
}

const parse = (text: string): Line[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

beforeAll(() => {
  dir = tempDir('replay');
  rulesDir = writeRules(tempDir('replay-rules'));
  eventsFile = join(dir, 'events.ndjson');
  writeFileSync(eventsFile, ndjson(minutes));
});

describe('replay', () => {
  let first: { text: string; summary: ReplaySummary };

  it('finds the injected outage in its segment, names the deploy, and resolves after recovery', async () => {
    const deploysFile = join(dir, 'deploys.ndjson');
    const marker = {
      service: 'payments-service',
      version: '3.1.0',
      ts: new Date(T0 + (DROP_AT - 6) * MIN).toISOString(),
    };
    writeFileSync(deploysFile, `${JSON.stringify(marker)}\n`);
    first = await replay([eventsFile], { deploysFile });
    const lines = parse(first.text);
    const firing = lines.find((l) => l.kind === 'firing' && l.segment === 'payment_provider=adyen');
    expect(firing, first.text).toBeDefined();
    const firedMin = (Date.parse(firing!.time) - T0) / MIN;
    expect(firedMin).toBeGreaterThanOrEqual(DROP_AT);
    expect(firedMin).toBeLessThanOrEqual(DROP_AT + 10);
    expect(Math.abs(Date.parse(firing!.onset!) - (T0 + DROP_AT * MIN))).toBeLessThanOrEqual(5 * MIN);
    expect(firing!.observedRate!).toBeLessThan(firing!.expectedRate!);
    expect(firing!.deploys[0]).toMatchObject({ service: 'payments-service' });
    expect(firing!.deploys[0]!.why).toMatch(/before the onset/);
    expect(firing!.drilldown?.summary).toMatch(/adyen/);
    const resolved = lines.find((l) => l.kind === 'resolved' && l.segment === 'payment_provider=adyen');
    expect(resolved, first.text).toBeDefined();
    expect((Date.parse(resolved!.time) - T0) / MIN).toBeGreaterThan(RECOVER_AT);
    // The healthy providers never fire; the funnel as a whole may (adyen carries ~45% of payments), not before.
    expect(
      lines.filter((l) => l.kind === 'firing' && l.segment !== null && l.segment !== 'payment_provider=adyen'),
    ).toEqual([]);
    expect(lines.filter((l) => l.kind === 'firing' && Date.parse(l.time) < T0 + DROP_AT * MIN)).toEqual([]);
    // The three broken lines are counted by reason; the run goes on.
    expect(first.summary.rejected).toEqual({ invalid_json: 1, unknown_envelope: 1, not_an_object: 1 });
    expect(first.summary.eventsAccepted).toBe(minutes.flat().length);
    expect(first.summary.virtualMinutes).toBe(MINUTES);
    expect(first.summary.alerts['payment-success-drop']?.firing).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it(
    'is deterministic: the same stream twice gives byte-identical output, ' + 'and the replay keys are gone after',
    async () => {
      plain = await replay([eventsFile]);
      const again = await replay([eventsFile]);
      expect(plain.text.length).toBeGreaterThan(0);
      expect(again.text).toBe(plain.text);
      const redis = redisClient();
      const [, left] = await redis.scan('0', 'MATCH', 'fw-replay-*', 'COUNT', 100_000);
      expect(left).toEqual([]);
    },
    120_000,
  );

  it('reads a gzipped file the same as the plain one', async () => {
    const gz = join(dir, 'events.ndjson.gz');
    writeFileSync(gz, gzipSync(ndjson(minutes)));
    expect((await replay([gz])).text).toBe(plain.text);
  }, 120_000);

  it('produces the same transitions as the daemon loop driven minute by minute over the same events', async () => {
    const redis = redisClient();
    const prefix = uniquePrefix();
    const clock = new ManualClock(T0);
    const loaded = await loadRuleDir(rulesDir);
    if (!loaded.ok) throw new Error('rules');
    const ruleSet = loaded.ruleSet;
    const funnel = ruleSet.funnels[0]!;
    const types = new Set(funnel.steps.map((st) => st.event));
    const store = new RedisWindowStore({ redis, prefix });
    const lease = new LeaderLease({ redis, prefix, owner: 'live', ttlMs: 60_000, clock });
    const got: AlertTransition[] = [];
    const ev = new Evaluator({
      store,
      rules: () => ruleSet,
      alerts: new RedisAlertStore({ redis, prefix }),
      lease,
      clock,
      staleAfterMs: 5 * MIN,
      logger: createLogger({ level: 'silent', pretty: false }),
      notifier: { notify: async (t) => void got.push(t) },
      completenessStore: new RedisCompletenessStore({ redis, prefix }),
      deploys: new RedisDeployStore({ redis, prefix, clock: () => clock.now() }),
    });
    // The daemon's order each minute: the minute's events reach the windows, then at minute end + 5 s compaction
    // and the evaluation.
    let offset = 0;
    for (let k = 0; k < MINUTES; k++) {
      const events = minutes[k]!.filter((e) => types.has(e.type));
      clock.set(T0 + (k + 1) * MIN);
      if (events.length > 0) {
        await store.applyBatch({
          funnel,
          partition: '0',
          firstOffset: offset,
          lastOffset: offset + events.length - 1,
          events,
          now: clock.now(),
        });
        offset += events.length;
      }
      clock.set(T0 + (k + 1) * MIN + 5_000);
      await store.compact(funnel);
      await lease.tryAcquire();
      await ev.tick(clock.now());
    }
    const live = got.map(
      (t) =>
        `${new Date(t.at).toISOString()} ${t.rule} ` +
        `${t.segment ? `${t.segment.dimension}=${t.segment.value}` : '-'} ${t.kind}`,
    );
    const replayed = parse(plain.text)
      .filter((l) => l.kind !== 'notification')
      .map((l) => `${l.time} ${l.rule} ${l.segment ?? '-'} ${l.kind}`);
    expect(live.some((l) => l.includes('adyen firing'))).toBe(true);
    expect(replayed).toEqual(live);
  }, 120_000);
});

describe('the replay and backtest commands', () => {
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const r = await run(process.execPath, ['dist/main.js', ...args], {
        env: { PATH: process.env.PATH ?? '', ...env },
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('writes the transitions with --out on a redis-server of its own, and the summary on stderr', async () => {
    const out = join(dir, 'cli-alerts.jsonl');
    const r = await cli(['replay', '--events', eventsFile, '--rules', rulesDir, '--out', out]);
    expect(r.stderr).toMatch(/lines read\s+[\d,]+, every one accounted for/);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(plain.text);
    expect(r.stderr).toMatch(/rejected\s+3 \(invalid_json 1, not_an_object 1, unknown_envelope 1\)/);
    expect(r.stderr).toMatch(/payment-success-drop: .*firing \d/);
  }, 120_000);

  it(
    'exits 1 with a message on an unreadable file, invalid rules, ' +
      'an empty range or an unknown rule; 2 on bad usage',
    async () => {
      const missing = await cli(['replay', '--events', join(dir, 'nope.ndjson'), '--rules', rulesDir]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/events file .*nope\.ndjson: no such file/);

      const bad = writeRules(tempDir('replay-bad'), 'funnel:\n  name: checkout\n  steps: 3\n');
      const invalid = await cli(['replay', '--events', eventsFile, '--rules', bad]);
      expect(invalid.code).toBe(1);
      expect(invalid.stderr).toMatch(/checkout\.yaml:\d+:\d+: /);

      const empty = await cli([
        'replay',
        '--events',
        eventsFile,
        '--rules',
        rulesDir,
        '--from',
        '2020-01-01T00:00:00Z',
        '--to',
        '2020-01-02T00:00:00Z',
      ]);
      expect(empty.code).toBe(1);
      expect(empty.stderr).toMatch(/no valid events between 2020-01-01T00:00:00.000Z and 2020-01-02T00:00:00.000Z/);

      const unknown = await cli(['backtest', '--rule', 'payment-sucess-drop', '--rules', rulesDir], {
        FW_REDIS_URL: redisUrl(),
        FW_REDIS_PREFIX: uniquePrefix(),
      });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/no rule "payment-sucess-drop".*payment-success-drop/);

      const usage = await cli(['replay', '--rules', rulesDir]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/--events/);
      const badTime = await cli(['replay', '--events', eventsFile, '--from', 'yesterday-ish']);
      expect(badTime.code).toBe(2);
    },
    120_000,
  );
});
