/**
 * `funnelwatch gate` (the built CLI, dist/main.js; run `npm run build` first) against a daemon that reads its events
 * from Kafka (the mock broker) into a real Redis: the exit codes 1 (fail), 0 (pass), 3 (still inconclusive at the
 * end of --wait), 2 (refused), the progress lines while it polls, and the Markdown report.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { kafkaBrokers, producer, redisUrl, uniqueName, uniquePrefix } from '../../support/env.js';
import { startWebhook } from '../../support/shop-daemon.js';
import { canaryMinutes, canaryRulesDir, MIN, type Arm } from '../../support/canary-shop.js';

const run = promisify(execFile);
const TOKEN = 'gate-cli-token';
const BASELINE: Arm = { version: '5.2.0', perMinute: 180, rate: 0.7 };

async function gate(url: string, args: string[]) {
  try {
    const r = await run(process.execPath, ['dist/main.js', 'gate', 'canary', ...args], {
      env: { PATH: process.env.PATH ?? '', FUNNELWATCH_URL: url, FUNNELWATCH_TOKEN: TOKEN },
      timeout: 120_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number | null; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('funnelwatch gate (CI) on events from Kafka', () => {
  it('exits 1 on fail, 0 on pass, 3 when still inconclusive, 2 when refused, --report the evidence', async () => {
    const hook = await startWebhook();
    onTestFinished(() => hook.close());
    const topic = uniqueName('events');
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: canaryRulesDir(hook.url),
      FW_INSTANCE_ID: uniquePrefix(),
      FW_INGEST_TOKEN: TOKEN,
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: topic,
      FW_KAFKA_DLQ_TOPIC: uniqueName('dlq'),
      FW_KAFKA_GROUP: uniqueName('g'),
      FW_KAFKA_FROM_BEGINNING: 'true',
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => d.stop());
    await d.start();
    const url = d.httpUrl;
    const t0 = Math.floor((Date.now() - 120 * MIN) / MIN) * MIN;
    const p = await producer();
    const send = async (events: { entity: string }[]) => {
      for (let i = 0; i < events.length; i += 2_000)
        await p.send({
          topic,
          messages: events.slice(i, i + 2_000).map((e) => ({ key: e.entity, value: JSON.stringify(e) })),
        });
    };

    // A broken canary: the CLI is started before the events are all in, and polls until the verdict is fail.
    const broken: Arm = { version: '5.3.0', perMinute: 20, rate: 0.35 };
    const healthy: Arm = { version: '5.3.1', perMinute: 20, rate: 0.7 };
    const warming: Arm = { version: '5.4.0', perMinute: 20, rate: 0.7 };
    const failing = gate(url, ['--canary', '5.3.0', '--baseline', '5.2.0', '--wait', '2m', '--interval', '1s']);
    await send(canaryMinutes(t0, 0, 60, [BASELINE, broken, healthy]));
    // Only warm-up data for this one: still inconclusive at the end of a short wait.
    await send(canaryMinutes(t0, 60, 62, [BASELINE, warming]));

    const fail = await failing;
    expect(fail.code, fail.stderr).toBe(1);
    expect(fail.stdout).toMatch(/ fail \(harm_established\) {2}canary 35\.0% of \d/);
    expect(fail.stdout).toMatch(/^Fail: the canary converts 35\.0% against the baseline's 70\.0%/m);

    const pass = await gate(url, ['--canary', '5.3.1', '--baseline', '5.2.0', '--wait', '1m', '--report']);
    expect(pass.code, pass.stderr).toBe(0);
    expect(pass.stdout).toMatch(/^Pass: the canary converts /m);
    expect(pass.stdout).toContain('# Canary gate `canary`: **PASS**');
    expect(pass.stdout).toMatch(/\| canary \| `5\.3\.1` \| 1,200 \|/);
    expect(pass.stdout).toMatch(/Rollback condition \(cleared at /);

    const undecided = await gate(url, ['--canary', '5.4.0', '--baseline', '5.2.0', '--wait', '3s', '--interval', '1s']);
    expect(undecided.code, undecided.stderr).toBe(3);
    expect(undecided.stdout).toMatch(/inconclusive \((warming_up|no_data)\)/);
    expect(undecided.stderr).toMatch(/still inconclusive at the end of --wait 3s/);

    const unknown = await gate(url, ['--canary', '5.3.0', '--baseline', '5.2.0', '--split-by', 'region']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/"region" is not a dimension of funnel "shop"/);
    const usage = await gate(url, ['--baseline', '5.2.0']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--canary is required/);
  });
});
