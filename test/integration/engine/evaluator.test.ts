/**
 * The evaluator end to end on a real Redis: a simulated shop streams minute by minute (virtual time) into the real
 * window store, compaction runs, the evaluator ticks under a real lease; an injected drop in one segment must fire
 * that segment's alert with an onset near the injection, a restart must continue the incident without a second
 * trigger, recovery must resolve it, and a silent feed must raise data_stale and hold the conversion rules.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { FUNNEL_DEFAULTS, type FunnelDef } from '../../../src/funnels/funnel.js';
import type { FwEvent } from '../../../src/events/event.js';
import type { AlertRuleDef } from '../../../src/rules/rule.js';
import type { RuleSet } from '../../../src/rules/rule-set.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { Evaluator } from '../../../src/engine/evaluator.js';
import { LeaderLease } from '../../../src/engine/lease.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { alertKey } from '../../../src/model/alert-key.js';
import { RedisDeployStore } from '../../../src/deploys/deploy-store.js';
import { deployId } from '../../../src/deploys/deploy.js';
import { RedisCompletenessStore } from '../../../src/engine/completeness-store.js';
import type { Notifier } from '../../../src/notify/notifier.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';
import { createLogger } from '../../../src/obs/logger.js';
import { mulberry32 } from '../../../src/core/prng.js';
import { redisClient, uniquePrefix } from '../../support/env.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 2, 6, 0, 0);

const funnel: FunnelDef = {
  name: 'shop',
  entityField: 'entity',
  steps: [
    { name: 'started', event: 'checkout_started' },
    { name: 'paid', event: 'order_completed' },
  ],
  conversionWindowMs: 10 * MIN,
  bucketMs: MIN,
  allowedLatenessMs: 2 * MIN,
  dimensions: [{ name: 'platform', maxValues: 5 }],
  services: ['payments-service'],
  retention: { ...FUNNEL_DEFAULTS.retention },
};

function rule(over: Partial<AlertRuleDef> = {}): AlertRuleDef {
  return {
    name: 'paid-drop',
    funnel: 'shop',
    metric: { kind: 'cohort_conversion', from: 'started', to: 'paid' },
    direction: 'drop',
    minChange: 0.2,
    baseline: { kind: 'trailing', windowMs: 60 * MIN },
    falseAlarmsPerWeek: 1,
    minVolume: 50,
    forMs: 2 * MIN,
    resolveAfterMs: 5 * MIN,
    severity: 'critical',
    segments: ['platform'],
    notify: ['console'],
    labels: { team: 'payments' },
    mixShift: 'ignore',
    source: { file: 'rules/shop.yaml', line: 1, col: 1 },
    ...over,
  };
}

/** Customers per minute per platform and conversion rate; `rate` may change over time to inject a drop. */
class Shop {
  private readonly rnd = mulberry32(7);
  private readonly queue = new Map<number, FwEvent[]>();
  private n = 0;
  constructor(
    private readonly rate: (platform: string, minute: number) => number,
    private readonly volume: (platform: string, minute: number) => number = (p) => (p === 'web' ? 90 : 60),
  ) {}

  /** Events whose time falls in minute k (starts of minute k, conversions scheduled into it), in time order. */
  minute(k: number): FwEvent[] {
    const out = this.queue.get(k) ?? [];
    this.queue.delete(k);
    for (const platform of ['web', 'android'] as const) {
      for (let i = 0; i < this.volume(platform, k); i++) {
        const id = `c${++this.n}`;
        const ts = T0 + k * MIN + Math.floor(this.rnd() * MIN);
        out.push({ id: `${id}-s`, type: 'checkout_started', ts, entity: id, attrs: { platform } });
        if (this.rnd() < this.rate(platform, k)) {
          const paidAt = ts + Math.floor(this.rnd() * 3 * MIN);
          const pk = Math.floor((paidAt - T0) / MIN);
          const ev: FwEvent = { id: `${id}-p`, type: 'order_completed', ts: paidAt, entity: id, attrs: { platform } };
          if (pk === k) out.push(ev);
          else this.queue.set(pk, [...(this.queue.get(pk) ?? []), ev]);
        }
      }
    }
    return out.sort((a, b) => a.ts - b.ts);
  }
}

class Collect implements Notifier {
  readonly got: AlertTransition[] = [];
  async notify(t: AlertTransition): Promise<void> {
    this.got.push(t);
  }
}

function setup(rules: AlertRuleDef[]) {
  const redis = redisClient();
  const prefix = uniquePrefix();
  const clock = new ManualClock(T0);
  const store = new RedisWindowStore({ redis, prefix });
  const ruleSet: RuleSet = { funnels: [funnel], rules, version: 'r-test', files: [], receivers: [], gates: [] };
  const lease = new LeaderLease({ redis, prefix, owner: 'a', ttlMs: 60_000, clock });
  const alerts = new RedisAlertStore({ redis, prefix });
  const logger = createLogger({ level: 'silent', pretty: false });
  // As in the daemon: learned completeness curves are kept in Redis for the next leader (or a restart).
  const completenessStore = new RedisCompletenessStore({ redis, prefix });
  // Deploy markers in the real store: an incident names the deploys near its onset.
  const deploys = new RedisDeployStore({ redis, prefix, clock: () => clock.now() });
  const make = (notifier: Notifier) =>
    new Evaluator({
      store,
      rules: () => ruleSet,
      alerts,
      lease,
      notifier,
      clock,
      logger,
      staleAfterMs: 5 * MIN,
      completenessStore,
      deploys,
      environment: 'production', // the daemon's default FW_ENVIRONMENT
    });
  let offset = 0;
  /** Applies minute k's events, compacts, and ticks 5 s after the minute ends. */
  const minute = async (shop: Shop | null, k: number, ev: Evaluator) => {
    const events = shop ? shop.minute(k) : [];
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
    return ev.tick(clock.now());
  };
  const deploy = (service: string, version: string, ts: number, environment = 'production') =>
    deploys.add({ id: deployId(service, version, environment, ts), service, version, environment, ts, receivedAt: ts });
  return { redis, prefix, clock, store, alerts, lease, make, minute, deploy };
}

describe('evaluator on a real Redis', () => {
  it(
    'fires on a segment drop near its onset, ' + 'continues across a restart without a second trigger, and resolves',
    async () => {
      const DROP_AT = 120,
        RECOVER_AT = 150;
      const shop = new Shop((p, k) => (p === 'android' && k >= DROP_AT && k < RECOVER_AT ? 0.25 : 0.6));
      const s = setup([rule()]);
      const notes = new Collect();
      let ev = s.make(notes);
      // Three deploys: the failing service 8 min before the drop, another service 90 min before, and one after it.
      await s.deploy('payments-service', '2.4.0', T0 + (DROP_AT - 8) * MIN);
      await s.deploy('search-service', '7.1.0', T0 + (DROP_AT - 90) * MIN);
      await s.deploy('payments-service', '2.4.1', T0 + (DROP_AT + 1) * MIN + 30_000);
      // The same service to staging, closer to the onset: not the cause of a production drop.
      await s.deploy('payments-service', '2.5.0-rc1', T0 + (DROP_AT - 3) * MIN, 'staging');
      for (let k = 0; k < DROP_AT; k++) await s.minute(shop, k, ev);
      // Nothing fires on a steady shop (trailing baseline, learned completeness, noise estimate).
      expect(notes.got.filter((t) => t.kind === 'firing')).toEqual([]);
      const android = alertKey('paid-drop', { dimension: 'platform', value: 'android' });

      let firedAt = -1;
      for (let k = DROP_AT; k < DROP_AT + 15 && firedAt < 0; k++) {
        await s.minute(shop, k, ev);
        if (notes.got.some((t) => t.kind === 'firing' && t.segment?.value === 'android')) firedAt = k;
      }
      expect(firedAt, 'android fired within 15 minutes of the drop').toBeGreaterThanOrEqual(DROP_AT);
      const firing = notes.got.find((t) => t.kind === 'firing' && t.segment?.value === 'android')!;
      expect(firing.evidence!.relativeChange).toBeGreaterThan(0.3);
      expect(Math.abs(firing.evidence!.onset! - (T0 + DROP_AT * MIN))).toBeLessThanOrEqual(5 * MIN);
      expect(firing.evidence!.baseline.kind).toBe('trailing');
      expect(firing.notify).toEqual(['console']);
      // The deploy 8 minutes before the onset, on one of the funnel's services, is named first, with why.
      const suspects = firing.context?.deploys ?? [];
      expect(suspects.map((d) => `${d.service} ${d.version}`)[0]).toBe('payments-service 2.4.0');
      expect(suspects[0]!.why).toMatch(/before the onset/);
      expect(suspects.findIndex((d) => d.version === '7.1.0')).not.toBe(0);
      const staging = suspects.find((d) => d.version === '2.5.0-rc1');
      expect(staging?.why).toMatch(/deployed to staging, not production/);
      // The drill-down names where the deficit is: android, whose own rate fell.
      const dd = firing.context?.drilldown;
      expect(dd?.classification).toBe('localised');
      expect(dd?.summary).toMatch(
        /^platform=android carries \d+% of the deficit \(its rate fell \d+%, the others' (fell|rose) \d+%\)/,
      );
      expect(dd?.dimensions[0]?.top[0]).toMatchObject({ value: 'android', rateChanged: true });
      expect(dd!.dimensions[0]!.top[0]!.deficitShare).toBeGreaterThan(0.8);
      // web did not fire: its rate never changed.
      expect(notes.got.filter((t) => t.kind === 'firing' && t.segment?.value === 'web')).toEqual([]);
      // Stored in Redis with its evidence.
      const stored = (await s.alerts.load()).get(android)!;
      expect(stored.status).toBe('firing');
      expect(stored.evidence!.expected).toBeGreaterThan(stored.evidence!.observed);

      // A new evaluator (a restart) continues the incident: no second trigger while the drop lasts.
      ev = s.make(notes);
      const before = notes.got.length;
      for (let k = firedAt + 1; k < RECOVER_AT; k++) await s.minute(shop, k, ev);
      expect(
        notes.got
          .slice(before)
          .filter((t) => t.segment?.value === 'android')
          .map(
            (t) =>
              `${t.kind}@${(t.at - T0) / MIN}: ${t.evidence?.relativeChange.toFixed(2)} ${t.evidence?.reason ?? ''}`,
          ),
      ).toEqual([]);

      let resolvedAt = -1;
      for (let k = RECOVER_AT; k < RECOVER_AT + 40 && resolvedAt < 0; k++) {
        await s.minute(shop, k, ev);
        if (notes.got.some((t) => t.kind === 'resolved' && t.segment?.value === 'android')) resolvedAt = k;
      }
      expect(resolvedAt, 'android resolved after recovery').toBeGreaterThan(RECOVER_AT);
      const resolved = notes.got.find((t) => t.kind === 'resolved' && t.segment?.value === 'android')!;
      expect(resolved.incidentId).toBe(firing.incidentId);
      // The funnel-wide alert (a smaller drop, so slower to show its recovery) may resolve after android: run on
      // until every alert that fired has resolved.
      const open = () =>
        notes.got.filter((t) => t.kind === 'firing').length - notes.got.filter((t) => t.kind === 'resolved').length;
      for (let k = resolvedAt + 1; k < RECOVER_AT + 40 && open() > 0; k++) await s.minute(shop, k, ev);
      expect(open()).toBe(0);
      // The outbox got exactly one firing and one resolved job for the incident group, across the restart,
      // committed with the states (no worker runs here, so every job the evaluators queued is still in the stream);
      // in between at most updates (the drop growing, the funnel-wide alert joining), never a second trigger.
      const outbox = async () =>
        (await s.redis.xrange(alertsKeys(s.prefix).outbox, '-', '+')).map(
          ([, f]) => JSON.parse(f[f.indexOf('j') + 1]!) as DeliveryJob,
        );
      // The group's resolve is queued at its next flush (group_interval) after its last member resolved.
      for (let k = RECOVER_AT + 40, n = 0; n < 15 && !(await outbox()).some((j) => j.event === 'resolved'); n++, k++)
        await s.minute(shop, k, ev);
      const all = await outbox();
      const group = all.find((j) => j.event === 'firing' && j.group?.members.some((m) => m.key === android))?.group;
      expect(group?.members.map((m) => m.key)).toContain(android);
      const jobs = all.filter((j) => j.group?.id === group!.id).map((j) => `${j.event}→${j.receiver}`);
      expect(jobs[0]).toBe('firing→console');
      expect(jobs.at(-1)).toBe('resolved→console');
      expect(jobs.slice(1, -1).every((j) => j === 'updated→console')).toBe(true);
      // The group resolved only once android (its last member) had.
      const resolveJob = all.find((j) => j.group?.id === group!.id && j.event === 'resolved')!;
      expect(resolveJob.createdAt).toBeGreaterThanOrEqual(resolved.at);
    },
    240_000,
  );

  it('a rule without `for` pages an outage once per series: one firing span, resolved after recovery', async () => {
    // android's payments fail for 40 minutes; the funnel-wide series drops ~30 %. Paging on the first breaching
    // minute, the resolve test used to take a 32-minute window, mostly the healthy data before the onset, for a
    // recovery: the funnel-wide alert fired at 105, resolved at 108 and fired again at 110 (one outage, two pages).
    const DROP_AT = 100,
      RECOVER_AT = 140;
    const shop = new Shop((p, k) => (p === 'android' && k >= DROP_AT && k < RECOVER_AT ? 0.15 : 0.6));
    const s = setup([rule({ name: 'no-for', forMs: 0, resolveAfterMs: 3 * MIN })]);
    const notes = new Collect();
    const ev = s.make(notes);
    for (let k = 0; k < RECOVER_AT + 30; k++) await s.minute(shop, k, ev);
    for (const value of ['android', null]) {
      const spans = notes.got
        .filter((t) => (t.segment?.value ?? null) === value && (t.kind === 'firing' || t.kind === 'resolved'))
        .map((t) => ({ kind: t.kind, minute: (t.at - T0) / MIN }));
      const summary = JSON.stringify({ value, spans });
      expect(
        spans.map((x) => x.kind),
        summary,
      ).toEqual(['firing', 'resolved']);
      expect(spans[0]!.minute, summary).toBeGreaterThanOrEqual(DROP_AT);
      expect(spans[1]!.minute, summary).toBeGreaterThan(RECOVER_AT);
    }
  }, 240_000);

  it(
    "a mix shift alone (each platform converts as before, android's share of traffic grows) " +
      'is not paged by default, and is described as a mix shift when a rule asks to page it',
    async () => {
      const SHIFT_AT = 100;
      // android converts at half web's rate throughout; from SHIFT_AT it brings four times the traffic.
      const shop = () =>
        new Shop(
          (p) => (p === 'web' ? 0.7 : 0.35),
          (p, k) => (p === 'web' ? 90 : k >= SHIFT_AT ? 240 : 60),
        );
      const run = async (mixShift: 'ignore' | 'page') => {
        const s = setup([rule({ name: `mix-${mixShift}`, mixShift, forMs: 0 })]);
        const notes = new Collect();
        const ev = s.make(notes);
        const sh = shop();
        for (let k = 0; k < SHIFT_AT + 25; k++) await s.minute(sh, k, ev);
        return notes.got.filter((t) => t.kind === 'firing');
      };
      // A fresh, identically seeded shop per run: both runs see the same events.
      expect(await run('ignore')).toEqual([]);
      const paged = await run('page');
      const wide = paged.find((t) => t.segment === null);
      expect(wide, 'the funnel-wide rate fell by mix alone and mix_shift: page pages it').toBeDefined();
      expect(paged.filter((t) => t.segment !== null)).toEqual([]); // no platform's own rate moved
      expect(wide!.context?.drilldown?.classification).toBe('mix-shift');
      expect(wide!.context?.drilldown?.summary).toMatch(
        /^mix shift: rates steady within every value, traffic share moved \(.*android/,
      );
    },
    240_000,
  );

  it(
    'a rule on a slice (where: platform android) reads the slice as its series: ' +
      'it fires on an android drop, counting android alone, and a rule on web does not',
    async () => {
      const DROP_AT = 90;
      const shop = new Shop((p, k) => (p === 'android' && k >= DROP_AT ? 0.25 : 0.6));
      const android = rule({
        name: 'android-drop',
        segments: [],
        where: { dimension: 'platform', values: ['android'] },
      });
      const web = rule({ name: 'web-drop', segments: [], where: { dimension: 'platform', values: ['web'] } });
      const s = setup([android, web]);
      const notes = new Collect();
      const ev = s.make(notes);
      for (let k = 0; k < DROP_AT + 15; k++) await s.minute(shop, k, ev);
      const fired = notes.got.filter((t) => t.kind === 'firing');
      // The whole funnel fell by about a quarter (android is 40 % of it), past web-drop's 20 %: web-drop would
      // have fired had it read the whole funnel.
      expect(fired.map((t) => `${t.rule} ${t.segment === null ? '(slice)' : 'segment'}`)).toEqual([
        'android-drop (slice)',
      ]);
      expect(fired[0]!.labels).toEqual({ slice: 'platform=android', team: 'payments' });
      const e = fired[0]!.evidence!;
      expect(e.relativeChange).toBeGreaterThan(0.3);
      // Its volume is android's (60 starts a minute), not the funnel's (150).
      expect(e.volume / e.windowMinutes).toBeLessThan(75);
      expect(Math.abs(e.onset! - (T0 + DROP_AT * MIN))).toBeLessThanOrEqual(5 * MIN);
      const webState = (await s.alerts.load()).get(alertKey('web-drop', null))!;
      expect(webState.status).toBe('inactive');
    },
    240_000,
  );

  it('a seasonal rule without weeks of history falls back to a trailing baseline and says so', async () => {
    const shop = new Shop(() => 0.6);
    const s = setup([rule({ name: 'seasonal-drop', baseline: { kind: 'seasonal', weeks: 4 }, segments: [] })]);
    const ev = s.make(new Collect());
    for (let k = 0; k < 60; k++) await s.minute(shop, k, ev);
    const st = (await s.alerts.load()).get(alertKey('seasonal-drop', null))!;
    expect(st.evidence!.baseline.kind).toBe('trailing');
    expect(st.evidence!.baseline.fallback).toMatch(/needs 4 week\(s\) of history, 0 available/);
  }, 120_000);

  it('below min_volume the rule reports insufficient data, neither firing nor resolving', async () => {
    const shop = new Shop(() => 0.6);
    const s = setup([rule({ name: 'needs-lots', minVolume: 1e9, segments: [] })]);
    const notes = new Collect();
    const ev = s.make(notes);
    for (let k = 0; k < 30; k++) await s.minute(shop, k, ev);
    const st = (await s.alerts.load()).get(alertKey('needs-lots', null))!;
    expect(st.status).toBe('insufficient');
    expect(notes.got.map((t) => t.kind)).toContain('insufficient');
    expect(notes.got.filter((t) => t.kind === 'firing')).toEqual([]);
  }, 120_000);

  it('a silent feed raises data_stale and holds the conversion rules', async () => {
    const shop = new Shop(() => 0.6);
    const s = setup([rule({ segments: [] })]);
    const notes = new Collect();
    const ev = s.make(notes);
    for (let k = 0; k < 90; k++) await s.minute(shop, k, ev);
    // The producer stops: ticks go on, the watermark stands still.
    for (let k = 90; k < 100; k++) await s.minute(null, k, ev);
    const stale = notes.got.find((t) => t.rule === 'shop/data_stale' && t.kind === 'firing');
    expect(stale, 'data_stale fired').toBeDefined();
    expect(stale!.evidence!.reason).toMatch(/no event applied for/);
    const states = await s.alerts.load();
    expect(states.get(alertKey('paid-drop', null))!.status).not.toBe('firing');
    expect(notes.got.filter((t) => t.rule === 'paid-drop' && t.kind === 'firing')).toEqual([]);
    // Data flows again: the guard resolves.
    for (let k = 100; k < 106; k++) await s.minute(shop, k, ev);
    expect(notes.got.some((t) => t.rule === 'shop/data_stale' && t.kind === 'resolved')).toBe(true);
  }, 120_000);

  it(
    'two ticks asked for at once (the minute ticker and a reload or a test) run one after the other: ' +
      'one trigger for the drop, not one per caller',
    async () => {
      const DROP_AT = 60;
      const shop = new Shop((p, k) => (p === 'android' && k >= DROP_AT ? 0.2 : 0.6));
      const s = setup([rule({ forMs: 0 })]);
      const notes = new Collect();
      const ev = s.make(notes);
      for (let k = 0; k < DROP_AT; k++) await s.minute(shop, k, ev);
      for (let k = DROP_AT; k < DROP_AT + 12; k++) {
        await s.minute(shop, k, ev);
        // The next minute's data in, then two callers tick at the same moment.
        const events = shop.minute(k + 1);
        await s.store.applyBatch({
          funnel,
          partition: '1',
          firstOffset: k * 10_000,
          lastOffset: k * 10_000 + events.length - 1,
          events,
          now: s.clock.now(),
        });
        s.clock.set(T0 + (k + 2) * MIN + 5_000);
        await s.store.compact(funnel);
        await s.lease.tryAcquire();
        const both = await Promise.all([ev.tick(s.clock.now()), ev.tick(s.clock.now())]);
        expect(both.map((r) => r.outcome)).toEqual(['evaluated', 'evaluated']);
        k++;
      }
      const fired = notes.got.filter((t) => t.kind === 'firing' && t.segment?.value === 'android');
      expect(fired.length, 'android fired once').toBe(1);
    },
    120_000,
  );

  it('a replica that is not the lease holder does not evaluate', async () => {
    const s = setup([rule()]);
    const other = new LeaderLease({ redis: s.redis, prefix: s.prefix, owner: 'b', ttlMs: 60_000, clock: s.clock });
    expect((await other.tryAcquire()).leader).toBe(true);
    const ev = s.make(new Collect());
    const shop = new Shop(() => 0.6);
    const r = await s.minute(shop, 0, ev);
    expect(r.outcome).toBe('standby');
  });
});
