/**
 * GET /v1/alerts on a real server (buildHttpServer + alertRoutes on 127.0.0.1, a free port) over alert states
 * committed to the real Redis by the real store: active alerts worst first with their evidence, likely cause and
 * who was notified; the status and rule filters; transitions; 400 for a bad query and 401 without the token.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { buildHttpServer } from '../../../src/http/server.js';
import { alertRoutes } from '../../../src/http/alert-routes.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { stepAlert } from '../../../src/engine/alert-state.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import type { Evidence } from '../../../src/model/evidence.js';
import { LeaderLease } from '../../../src/engine/lease.js';
import { ManualClock } from '../../../src/core/clock.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { Readiness } from '../../../src/http/readiness.js';
import { redisClient, uniquePrefix } from '../../support/env.js';
import { alertKey } from '../../../src/model/alert-key.js';
import { DEFAULT_GROUPING } from '../../../src/notify/grouping.js';
import { GroupStore } from '../../../src/notify/group-store.js';
import { planDeliveries } from '../../../src/notify/plan.js';

const TOKEN = 'alerts-s3cret';
const T0 = Date.UTC(2026, 10, 23, 12, 0);
const MIN = 60_000;

function ev(change: number): Evidence {
  return {
    observed: 400,
    expected: 600,
    observedRate: 0.4,
    expectedRate: 0.6,
    relativeChange: change,
    volume: 1000,
    windowMinutes: 15,
    statistic: 5,
    threshold: 3,
    pValue: 1e-6,
    chanceRatePerWeek: 0.1,
    onset: T0 - 4 * MIN,
    evaluatedUpTo: T0,
    baseline: { kind: 'trailing' },
  };
}

async function start() {
  const redis = redisClient();
  const prefix = uniquePrefix();
  const clock = new ManualClock(T0);
  const logger = pino({ level: 'silent' });
  const lease = new LeaderLease({ redis, prefix, owner: 'a', ttlMs: 60_000, clock });
  await lease.tryAcquire();
  const store = new RedisAlertStore({ redis, prefix });
  const step = (rule: string, seg: AlertState['segment'], change: number): AlertState =>
    stepAlert(undefined, rule, seg, { condition: 'breach', evidence: ev(change) }, T0, {
      forMs: change > 0.3 ? 0 : 5 * MIN,
      resolveAfterMs: MIN,
    }).next;
  const firing = {
    ...step('checkout-drop', { dimension: 'payment_provider', value: 'stripe' }, 0.4),
    context: {
      deploys: [
        { service: 'payments-service', version: '2.3.1', ts: T0 - 12 * MIN, score: 0.9, why: '8 min before the onset' },
      ],
      drilldown: {
        classification: 'localised' as const,
        summary: 'payment_provider=stripe carries 92% of the deficit',
        dimensions: [],
      },
    },
  };
  const pending = step('signup-drop', null, 0.2);
  const quiet = stepAlert(undefined, 'checkout-slow', null, { condition: 'ok' }, T0, {
    forMs: 0,
    resolveAfterMs: MIN,
  }).next;
  const t: AlertTransition = {
    id: transitionId(firing),
    kind: 'firing',
    at: T0,
    rule: firing.rule,
    funnel: 'checkout',
    segment: firing.segment,
    severity: 'critical',
    notify: ['slack-payments'],
    labels: {},
    from: 'pending',
    to: 'firing',
    ruleSetVersion: 'r-1',
  };
  // The planner groups the firing alert and notifies slack-payments at once (no group_wait): the API says so.
  const plan = planDeliveries({
    now: T0,
    states: new Map([[alertKey(firing.rule, firing.segment), firing]]),
    transitions: [t],
    silences: [],
    receivers: new Map([['slack-payments', { ...DEFAULT_GROUPING, groupWaitMs: 0 }]]),
    groups: new Map(),
    describe: () => t,
  });
  expect(plan.jobs).toHaveLength(1);
  const opts = { outbox: plan.outbox, groups: plan.groupWrites };
  expect(await store.commit(lease.token()!, [firing, pending, quiet], [t], opts)).toBe('ok');
  const rules = () =>
    ({
      funnels: [],
      receivers: [],
      files: [],
      version: 'r-1',
      rules: [
        { name: 'checkout-drop', funnel: 'checkout' },
        { name: 'signup-drop', funnel: 'signup' },
        { name: 'checkout-slow', funnel: 'checkout' },
      ],
    }) as never;
  const app = buildHttpServer({
    logger,
    metrics: new Metrics({ defaultMetrics: false }),
    readiness: new Readiness(),
    version: 'test',
    routes: [alertRoutes({ alerts: store, groups: new GroupStore(redis, prefix), rules, token: TOKEN })],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  onTestFinished(() => app.close());
  const { port } = app.server.address() as { port: number };
  const get = (path: string, token: string | null = TOKEN) =>
    fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { get, firing };
}

describe('alerts HTTP API', () => {
  it('lists active alerts worst first, with evidence, onset, deploys, drill-down and who was notified', async () => {
    const { get, firing } = await start();
    const r = await get('/v1/alerts');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { alerts: Record<string, unknown>[]; ruleSetVersion: string };
    expect(body.alerts.map((a) => `${a.rule}:${a.status}`)).toEqual(['checkout-drop:firing', 'signup-drop:pending']);
    expect(body.alerts[0]).toMatchObject({
      key: 'checkout-drop|payment_provider=stripe',
      funnel: 'checkout',
      segment: { dimension: 'payment_provider', value: 'stripe' },
      incidentId: firing.incidentId,
      onset: new Date(T0 - 4 * MIN).toISOString(),
      notified: { 'slack-payments': { at: T0, incident: expect.stringMatching(/^slack-payments\/.*@/) } },
      deploys: [{ service: 'payments-service', version: '2.3.1' }],
      drilldown: { classification: 'localised' },
    });
    expect((body.alerts[0]!.evidence as Evidence).relativeChange).toBe(0.4);
    expect(body.ruleSetVersion).toBe('r-1');
  });

  it('filters by status, rule and funnel; lists transitions', async () => {
    const { get } = await start();
    const names = async (q: string) =>
      ((await (await get(`/v1/alerts${q}`)).json()) as { alerts: { rule: string }[] }).alerts.map((a) => a.rule);
    expect(await names('?status=all')).toEqual(['checkout-drop', 'signup-drop', 'checkout-slow']);
    expect(await names('?status=inactive')).toEqual(['checkout-slow']);
    expect(await names('?status=all&funnel=checkout')).toEqual(['checkout-drop', 'checkout-slow']);
    expect(await names('?rule=signup-drop')).toEqual(['signup-drop']);
    const tr = (await (await get('/v1/alerts/transitions?limit=5')).json()) as { transitions: AlertTransition[] };
    expect(tr.transitions.map((x) => `${x.rule}:${x.kind}`)).toEqual(['checkout-drop:firing']);
  });

  it('answers 400 with a message for a bad query and 401 without the token', async () => {
    const { get } = await start();
    const bad = await get('/v1/alerts?status=burning');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^status: one of active, firing/);
    const badLimit = await get('/v1/alerts/transitions?limit=0');
    expect(badLimit.status).toBe(400);
    expect((await get('/v1/alerts', null)).status).toBe(401);
    expect((await get('/v1/alerts', 'wrong')).status).toBe(401);
  });
});
