/**
 * The canary gate through the real daemon and a real Redis: events with an app_version through HTTP ingest, the
 * verdict endpoint (inconclusive, then fail for a broken canary; pass for a healthy one), the evidence record, the
 * announcement delivered once to the gate's receiver, the Flagger webhook (both hook kinds), the metrics, and a
 * 4xx with a message for each bad request.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { eventually, redisUrl, uniquePrefix } from '../../support/env.js';
import { startWebhook } from '../../support/shop-daemon.js';
import { canaryMinutes, canaryRulesDir, MIN, type Arm } from '../../support/canary-shop.js';
import type { GateEvidence } from '../../../src/gates/gate-evidence.js';
import { RedisCompletenessStore } from '../../../src/engine/completeness-store.js';
import { completenessKey } from '../../../src/engine/completeness.js';
import { GateStore } from '../../../src/gates/gate-store.js';

const TOKEN = 'gate-test-token';
const BASELINE: Arm = { version: '5.2.0', perMinute: 180, rate: 0.7 };
const BROKEN: Arm = { version: '5.3.0', perMinute: 20, rate: 0.35 };
const HEALTHY: Arm = { version: '5.3.1', perMinute: 20, rate: 0.7 };

interface Ctx {
  d: Daemon;
  prefix: string;
  hook: Awaited<ReturnType<typeof startWebhook>>;
  t0: number;
}

async function startShop(): Promise<Ctx> {
  const hook = await startWebhook();
  onTestFinished(() => hook.close());
  const prefix = uniquePrefix();
  const config = loadConfig({
    FW_REDIS_URL: redisUrl(),
    FW_REDIS_PREFIX: prefix,
    FW_HTTP_PORT: '0',
    FW_HTTP_HOST: '127.0.0.1',
    FW_RULES_DIR: canaryRulesDir(hook.url),
    FW_INSTANCE_ID: uniquePrefix(),
    FW_INGEST_TOKEN: TOKEN,
  });
  const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
  onTestFinished(() => d.stop());
  await d.start();
  // Two hours back: all the minutes the tests send are in the past, so the watermark closes them at once.
  const t0 = Math.floor((Date.now() - 120 * MIN) / MIN) * MIN;
  return { d, hook, t0, prefix };
}

async function ingest(d: Daemon, events: unknown[]): Promise<void> {
  for (let i = 0; i < events.length; i += 5_000) {
    const r = await fetch(`${d.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(events.slice(i, i + 5_000)),
    });
    expect(r.status, await r.clone().text()).toBe(200);
  }
}

async function get(d: Daemon, path: string, token = TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${d.httpUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function flagger(
  d: Daemon,
  metadata: Record<string, string>,
  header = true,
): Promise<{ status: number; body: GateEvidence }> {
  const r = await fetch(`${d.httpUrl}/v1/gates/canary/flagger`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(header ? { authorization: `Bearer ${TOKEN}` } : {}) },
    body: JSON.stringify({ name: 'checkout', namespace: 'shop', phase: 'Progressing', checksum: 'abc', metadata }),
  });
  return { status: r.status, body: (await r.json()) as GateEvidence };
}

const verdictPath = (canary: string, extra = '') =>
  `/v1/gates/canary/verdict?canary=${canary}&baseline=${BASELINE.version}${extra}`;

describe('the canary gate API', () => {
  // Each test starts its own daemon on its own key prefix (fast: no Kafka).
  let ctx: Ctx;

  it('answers inconclusive while warming up, then fail for a broken canary (evidence, announced once)', async () => {
    ctx = await startShop();
    const { d, hook, t0 } = ctx;
    await ingest(d, canaryMinutes(t0, 0, 4, [BASELINE, BROKEN]));

    const early = await get(d, verdictPath(BROKEN.version));
    expect(early.status).toBe(200);
    expect(early.body).toMatchObject({ verdict: 'inconclusive', gate: 'canary', splitBy: 'app_version' });
    expect(early.body.since).toBe(new Date(t0).toISOString());
    expect(await flagger(d, { canary: BROKEN.version, baseline: BASELINE.version, hook: 'rollout' })).toMatchObject({
      status: 200,
      body: { open: true, verdict: 'inconclusive' },
    });
    expect(
      await flagger(d, { canary: BROKEN.version, baseline: BASELINE.version, hook: 'confirm-promotion' }),
    ).toMatchObject({ status: 409, body: { error: 'GATE_CLOSED', open: false, verdict: 'inconclusive' } });

    await ingest(d, canaryMinutes(t0, 4, 30, [BASELINE, BROKEN]));
    const late = await get(d, verdictPath(BROKEN.version));
    expect(late.status).toBe(200);
    const e = late.body as unknown as GateEvidence;
    expect(e.verdict).toBe('fail');
    expect(e.reason).toBe('harm_established');
    expect(e.canary).toMatchObject({ value: '5.3.0' });
    expect(e.baseline).toMatchObject({ value: '5.2.0' });
    // Mature cohorts only (no completeness curve learned): the rates are the shop's own.
    expect(e.canary.rate).toBeCloseTo(0.35, 5);
    expect(e.baseline.rate).toBeCloseTo(0.7, 5);
    expect(e.effect.estimate).toBeCloseTo(-0.5, 5);
    expect(e.effect.upper!).toBeLessThan(0); // fail: harm established, the interval excludes "no harm"
    expect(e.srm).toMatchObject({ checked: true, expectedWeight: 0.1, mismatch: false });
    expect(e.srm.observedWeight).toBeCloseTo(0.1, 5);
    expect(e.warmupExcludedMinutes).toBe(2);
    expect(e.minutesToDecision).toBe(0);
    expect(e.rollback).toMatchObject({ status: 'fired', at: e.decidedAt });
    // The timeline starts with the first minute after the warm-up (a −50% canary fails at that first look).
    expect(e.timeline[0]!.at).toBe(new Date(t0 + 3 * MIN).toISOString());
    expect(e.timeline.at(-1)!.verdict).toBe('fail');
    expect(Date.parse(e.decidedAt!)).toBeLessThan(Date.parse(e.dataUntil));

    // The evidence record is what the verdict answered; asking again does not announce again.
    expect((await get(d, `/v1/gates/canary/evidence?canary=5.3.0&baseline=5.2.0`)).body).toEqual(late.body);
    await get(d, verdictPath(BROKEN.version));
    expect(await flagger(d, { canary: '5.3.0', baseline: '5.2.0', hook: 'rollout' })).toMatchObject({
      status: 409,
      body: { error: 'GATE_CLOSED', open: false, verdict: 'fail' },
    });
    const announced = await eventually(
      () => {
        const got = hook.bodies.filter((b) => b.event === 'gate_verdict');
        return got.length > 0 ? got : undefined;
      },
      20_000,
      'the fail announced on the webhook',
    );
    expect(announced).toHaveLength(1);
    expect((announced[0] as unknown as { gate: Record<string, unknown> }).gate).toMatchObject({
      gate: 'canary',
      canary: '5.3.0',
      baseline: '5.2.0',
      verdict: 'fail',
      evidencePath: '/v1/gates/canary/evidence?canary=5.3.0&baseline=5.2.0',
    });
    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fw_gate_verdict\{gate="canary",canary="5\.3\.0"\} -1$/m);
    expect(metrics).toMatch(/^fw_gate_decisions_total\{gate="canary",verdict="fail"\} 1$/m);
    expect(metrics).toMatch(/^fw_gate_successes\{gate="canary",canary="5\.3\.0",arm="canary"\} \d+/m);
  });

  it('passes a healthy canary, Flagger confirm-promotion opens; the deploy marker in the evidence', async () => {
    ctx = await startShop();
    const { d, t0 } = ctx;
    const r = await fetch(`${d.httpUrl}/v1/deploys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ service: 'checkout-web', version: '5.3.1', ts: t0 - MIN, author: 'ci' }),
    });
    expect(r.status).toBe(201);
    await ingest(d, canaryMinutes(t0, 0, 60, [BASELINE, HEALTHY]));
    const { status, body } = await get(d, verdictPath(HEALTHY.version));
    expect(status).toBe(200);
    const e = body as unknown as GateEvidence;
    expect(e.verdict).toBe('pass');
    expect(e.reason).toBe('harm_ruled_out');
    expect(e.effect.lower!).toBeGreaterThan(-0.2);
    expect(e.rollback.status).toBe('cleared');
    expect(e.deploy).toMatchObject({ service: 'checkout-web', version: '5.3.1' });
    expect(await flagger(d, { canary: '5.3.1', baseline: '5.2.0', hook: 'confirm-promotion' })).toMatchObject({
      status: 200,
      body: { open: true, verdict: 'pass' },
    });
    expect(await flagger(d, { canary: '5.3.1', baseline: '5.2.0', hook: 'rollout' })).toMatchObject({
      status: 200,
      body: { open: true, verdict: 'pass' },
    });
    // `since` from the request: the same data from minute 10 on.
    const later = await get(d, verdictPath(HEALTHY.version, `&since=${new Date(t0 + 10 * MIN).toISOString()}`));
    expect(later.body).toMatchObject({ sinceSource: 'request', since: new Date(t0 + 10 * MIN).toISOString() });
  });

  it('answers each bad request 4xx with a message, and lists the gates', async () => {
    ctx = await startShop();
    const { d, t0 } = ctx;
    const noEvidence = await get(d, '/v1/gates/canary/evidence?canary=5.3.0&baseline=5.2.0');
    expect(noEvidence).toMatchObject({ status: 404, body: { error: 'GATE_NO_EVIDENCE' } });
    await ingest(d, canaryMinutes(t0, 0, 5, [BASELINE, BROKEN]));

    const list = await get(d, '/v1/gates');
    expect(list.status).toBe(200);
    expect(list.body.gates).toEqual([
      expect.objectContaining({ name: 'canary', funnel: 'shop', splitBy: 'app_version', drop: 0.2, warmupMinutes: 2 }),
    ]);

    const cases: [string, number, string, RegExp][] = [
      [
        '/v1/gates/canry/verdict?canary=5.3.0&baseline=5.2.0',
        404,
        'UNKNOWN_GATE',
        /no gate "canry" \(did you mean "canary"\?\)/,
      ],
      [
        verdictPath('9.9.9'),
        404,
        'GATE_VALUE_UNSEEN',
        /the canary value "9\.9\.9" of app_version has no entries in funnel "shop"/,
      ],
      [
        '/v1/gates/canary/verdict?canary=5.3.0&baseline=1.0.0',
        404,
        'GATE_VALUE_UNSEEN',
        /the baseline value "1\.0\.0"/,
      ],
      [
        verdictPath('5.3.0', '&split_by=region'),
        400,
        'GATE_UNKNOWN_DIMENSION',
        /"region" is not a dimension of funnel "shop"/,
      ],
      [verdictPath('5.3.0', '&since=yesterday-ish'), 400, 'BAD_REQUEST', /^since: "yesterday-ish" is not a time/],
      [
        verdictPath('5.3.0', `&since=${new Date(t0 + 600 * MIN).toISOString()}`),
        400,
        'BAD_REQUEST',
        /is after the newest/,
      ],
      [verdictPath('5.3.0', '&weight=150%'), 400, 'BAD_REQUEST', /^weight: the canary's expected share/],
      ['/v1/gates/canary/verdict?baseline=5.2.0', 400, 'BAD_REQUEST', /^canary is required/],
      [verdictPath('5.3.0', '&colour=red'), 400, 'BAD_REQUEST', /unknown query parameter "colour"/],
      ['/v1/gates/canary/verdict?canary=5.2.0&baseline=5.2.0', 400, 'BAD_REQUEST', /compare two different values/],
    ];
    for (const [path, status, error, message] of cases) {
      const got = await get(d, path);
      expect({ path, status: got.status, error: got.body.error }).toEqual({ path, status, error });
      expect(got.body.message, path).toMatch(message);
    }
    const unauthorized = await get(d, verdictPath('5.3.0'), '');
    expect(unauthorized).toMatchObject({ status: 401, body: { error: 'UNAUTHORIZED' } });
    // Flagger sends no headers: the token comes in the webhook's metadata.
    const viaMetadata = { canary: '5.3.0', baseline: '5.2.0', hook: 'rollout' };
    expect((await flagger(d, { ...viaMetadata, token: TOKEN }, false)).status).toBe(200);
    expect(await flagger(d, { ...viaMetadata, token: 'wrong' }, false)).toMatchObject({
      status: 401,
      body: { error: 'UNAUTHORIZED' },
    });
    expect((await flagger(d, viaMetadata, false)).status).toBe(401);
    const noHook = await flagger(d, { canary: '5.3.0', baseline: '5.2.0' });
    expect(noHook.status).toBe(400);
    expect((noHook.body as unknown as { message: string }).message).toMatch(/metadata\.hook \(or \?hook=\)/);
    const noCanary = await flagger(d, { baseline: '5.2.0', hook: 'rollout' });
    expect(noCanary).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST' } });
    // A canary without traffic yet holds promotion but does not fail the rollout hook.
    expect(await flagger(d, { canary: '6.0.0', baseline: '5.2.0', hook: 'rollout' })).toMatchObject({
      status: 200,
      body: { open: true, verdict: 'inconclusive', reason: 'no_data' },
    });
    expect(await flagger(d, { canary: '6.0.0', baseline: '5.2.0', hook: 'confirm-promotion' })).toMatchObject({
      status: 404,
      body: { error: 'GATE_VALUE_UNSEEN' },
    });
  });

  it('counts young cohorts at the learned completeness, and leaves them out without a curve', async () => {
    ctx = await startShop();
    const { d, t0, prefix } = ctx;
    // 14% worse than the baseline: between no harm and the gate's 20%, so a few minutes decide nothing.
    const MIDDLING: Arm = { version: '5.3.2', perMinute: 20, rate: 0.6 };
    // Minutes 0-7 sent; the data ends with minute 6 (minute 7 is not complete): the warm-up (0, 1), one mature
    // minute (2) and four young ones (ages 3, 2, 1, 0).
    await ingest(d, canaryMinutes(t0, 0, 8, [BASELINE, MIDDLING]));
    const without = (await get(d, verdictPath(MIDDLING.version))).body as unknown as GateEvidence;
    expect(without.verdict).toBe('inconclusive');
    expect(without.youngCohortsLeftOut).toBe(4);
    expect(without.canary).toMatchObject({ entered: 140, trials: 20 });

    // A learned curve G = 0.95, 0.96, 0.97, 0.98 by age (engine/completeness.ts sums: C_a, S_a, C_final, S_final);
    // this shop completes within 20 s, so a curve far below 1 would make young cohorts look better than they are.
    const sums = [0.95, 0.96, 0.97, 0.98, 1].map((g) => [1000 * g, 1000, 1000, 1000]);
    const store = new RedisCompletenessStore({ redis: d.redis as never, prefix });
    await store.save({ [completenessKey('shop', 'started', 'completed')]: { v: 1, sums } });
    const withCurve = (await get(d, verdictPath(MIDDLING.version))).body as unknown as GateEvidence;
    expect(withCurve.verdict).toBe('inconclusive'); // not decided: the counts are not frozen at a decision
    expect(withCurve.youngCohortsLeftOut).toBe(0);
    expect(withCurve.canary.trials).toBeCloseTo(20 * (1 + 0.98 + 0.97 + 0.96 + 0.95), 6);
    expect(withCurve.baseline.trials).toBeCloseTo(180 * (1 + 0.98 + 0.97 + 0.96 + 0.95), 6);
    expect(withCurve.canary.entered).toBe(140);
  });

  it('serves a decision once reached, unless the comparison starts elsewhere', async () => {
    ctx = await startShop();
    const { d, t0, prefix } = ctx;
    const MIDDLING: Arm = { version: '5.3.2', perMinute: 20, rate: 0.6 };
    await ingest(d, canaryMinutes(t0, 0, 8, [BASELINE, MIDDLING]));
    const now = (await get(d, verdictPath(MIDDLING.version))).body as unknown as GateEvidence;
    expect(now.verdict).toBe('inconclusive');
    // A decision an earlier look reached on cohorts that were young then (the re-run need not replay it).
    const decided = { ...now, verdict: 'fail' as const, reason: 'harm_established', decidedAt: now.dataUntil };
    await new GateStore({ redis: d.redis as never, prefix }).save(decided, undefined, []);
    expect((await get(d, verdictPath(MIDDLING.version))).body).toMatchObject({
      verdict: 'fail',
      reason: 'harm_established',
      decidedAt: now.dataUntil,
    });
    const elsewhere = await get(d, verdictPath(MIDDLING.version, `&since=${new Date(t0 + MIN).toISOString()}`));
    expect(elsewhere.body).toMatchObject({ verdict: 'inconclusive', sinceSource: 'request' });
  });

  it('decides and announces an undecided comparison at the minute tick, without being asked again', async () => {
    ctx = await startShop();
    const { d, hook, t0 } = ctx;
    await ingest(d, canaryMinutes(t0, 0, 4, [BASELINE, BROKEN]));
    expect((await get(d, verdictPath(BROKEN.version))).body).toMatchObject({ verdict: 'inconclusive' });
    await ingest(d, canaryMinutes(t0, 4, 12, [BASELINE, BROKEN]));
    await d.ticker.runOnce();
    const record = (await get(d, '/v1/gates/canary/evidence?canary=5.3.0&baseline=5.2.0')).body;
    expect(record).toMatchObject({ verdict: 'fail', reason: 'harm_established' });
    const announced = await eventually(
      () => hook.bodies.find((b) => b.event === 'gate_verdict'),
      20_000,
      'the fail announced after the tick',
    );
    expect(announced).toMatchObject({ gate: { verdict: 'fail', canary: '5.3.0' } });
  });
});
