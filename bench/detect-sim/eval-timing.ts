/**
 * Wall time of one evaluation tick against a real Redis: 50 rules × 40 segment values (2,050 series with the
 * funnel-wide ones), through the daemon's own Evaluator, window store, lease and alert store.
 *
 * Data, written through the real path (RedisWindowStore.applyBatch, then compact()):
 * - the last 19 hours at STARTS_PER_MIN checkouts a minute (what the scan, trailing baselines and noise read);
 * - for each of the 4 past weeks, the 18 hours around the same time of week at a lower rate (what seasonal
 *   baselines and their level factor read from rollups).
 * Then: one cold tick (empty caches: what a replica pays when it becomes leader), and STEADY_TICKS ticks each after
 * one more minute of data and a compaction, as in production. `eval_ms_per_tick` is the median steady tick.
 */
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/core/clock.js';
import { startRedisServer } from '../../src/devenv/redis-server.js';
import type { FwEvent } from '../../src/events/event.js';
import { FUNNEL_DEFAULTS, type FunnelDef } from '../../src/funnels/funnel.js';
import { RedisAlertStore } from '../../src/engine/alert-store.js';
import { Evaluator } from '../../src/engine/evaluator.js';
import { LeaderLease } from '../../src/engine/lease.js';
import { createLogger } from '../../src/obs/logger.js';
import { mulberry32 } from '../../src/core/prng.js';
import type { AlertRuleDef, MetricDef } from '../../src/rules/rule.js';
import type { RuleSet } from '../../src/rules/rule-set.js';
import { RedisWindowStore } from '../../src/windows/redis-window-store.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const WEEK = 7 * 24 * HOUR;

export interface EvalTimingOptions {
  rules?: number;
  values?: number;
  startsPerMin?: number;
  steadyTicks?: number;
  log?: (line: string) => void;
}

export interface EvalTimingReport {
  rules: number;
  segment_values: number;
  series: number;
  cold_tick_ms: number;
  eval_ms_per_tick: number;
  max_steady_tick_ms: number;
  events_written: number;
  setup_s: number;
}

export async function measureEvalTick(o: EvalTimingOptions = {}): Promise<EvalTimingReport> {
  const log = o.log ?? (() => {});
  const nRules = o.rules ?? 50;
  const nValues = o.values ?? 40;
  const perMin = o.startsPerMin ?? 150;
  const steadyTicks = o.steadyTicks ?? 10;
  const t0 = performance.now();
  const server = await startRedisServer();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 3 });
  try {
    const funnel: FunnelDef = {
      name: 'checkout',
      entityField: 'entity',
      steps: [
        { name: 'started', event: 'checkout_started' },
        { name: 'payment', event: 'payment_submitted' },
        { name: 'completed', event: 'order_completed' },
      ],
      conversionWindowMs: 30 * MIN,
      bucketMs: MIN,
      allowedLatenessMs: 5 * MIN,
      dimensions: [{ name: 'segment', maxValues: nValues }],
      services: [],
      retention: { ...FUNNEL_DEFAULTS.retention },
    };
    const metrics: MetricDef[] = [
      { kind: 'cohort_conversion', from: 'started', to: 'completed' },
      { kind: 'cohort_conversion', from: 'started', to: 'payment' },
      { kind: 'cohort_conversion', from: 'payment', to: 'completed' },
      { kind: 'ratio_conversion', from: 'started', to: 'completed' },
      { kind: 'step_volume', step: 'started' },
    ];
    const rules: AlertRuleDef[] = Array.from({ length: nRules }, (_, i) => ({
      name: `rule-${i}`,
      funnel: 'checkout',
      metric: metrics[i % metrics.length]!,
      direction: 'drop',
      minChange: 0.05 + (i % 3) * 0.05,
      baseline: i % 2 ? { kind: 'trailing', windowMs: 2 * HOUR } : { kind: 'seasonal', weeks: 4 },
      falseAlarmsPerWeek: 1,
      minVolume: 50,
      forMs: 0,
      resolveAfterMs: 10 * MIN,
      severity: 'warning',
      segments: ['segment'],
      notify: ['console'],
      labels: {},
      mixShift: 'ignore',
      source: { file: 'bench', line: 1, col: 1 },
    }));
    const ruleSet: RuleSet = { funnels: [funnel], rules, version: 'bench', files: [], receivers: [], gates: [] };
    const store = new RedisWindowStore({ redis, prefix: 'fw' });
    const now0 = Math.floor(Date.UTC(2026, 10, 23, 15, 0, 0) / MIN) * MIN;
    const clock = new ManualClock(now0 - 19 * HOUR - 4 * WEEK);
    const rnd = mulberry32(42);
    let offset = 0;
    let written = 0;
    const pending = new Map<number, FwEvent[]>();
    let n = 0;
    const writeMinute = async (start: number, rate: number) => {
      const events = pending.get(start) ?? [];
      pending.delete(start);
      for (let i = 0; i < rate; i++) {
        const id = `c${++n}`;
        const ts = start + Math.floor(rnd() * MIN);
        const segment = `v${Math.floor(rnd() * rnd() * nValues)}`; // skewed: a few large values, a long tail
        events.push({ id: `${id}s`, type: 'checkout_started', ts, entity: id, attrs: { segment } });
        if (rnd() < 0.7) {
          const pay = ts + Math.floor(rnd() * 3 * MIN);
          const done = pay + Math.floor(rnd() * MIN);
          for (const [type, t] of [
            ['payment_submitted', pay],
            ...(rnd() < 0.85 ? [['order_completed', done]] : []),
          ] as [string, number][]) {
            const k = Math.floor(t / MIN) * MIN;
            const e: FwEvent = { id: `${id}${type[0]}`, type, ts: t, entity: id, attrs: { segment } };
            if (k === start) events.push(e);
            else pending.set(k, [...(pending.get(k) ?? []), e]);
          }
        }
      }
      events.sort((a, b) => a.ts - b.ts);
      if (events.length === 0) return;
      await store.applyBatch({
        funnel,
        partition: '0',
        firstOffset: offset,
        lastOffset: offset + events.length - 1,
        events,
        now: start + MIN,
      });
      offset += events.length;
      written += events.length;
    };
    const compactAll = async () => {
      while ((await store.compact(funnel)).buckets > 0) {
        /* until nothing sealed is left */
      }
    };
    for (let w = 4; w >= 1; w--) {
      log(`writing week −${w} around the same time of week`);
      for (let t = now0 - w * WEEK - 16 * HOUR; t < now0 - w * WEEK + 2 * HOUR; t += MIN)
        await writeMinute(t, Math.round(perMin / 5));
      pending.clear();
      await compactAll();
    }
    log('writing the last 19 hours');
    for (let t = now0 - 19 * HOUR; t < now0; t += MIN) await writeMinute(t, perMin);
    await compactAll();
    const setupS = (performance.now() - t0) / 1000;

    clock.set(now0 + 5_000);
    const lease = new LeaderLease({ redis, prefix: 'fw', owner: 'bench', ttlMs: 10 * MIN, clock });
    const evaluator = new Evaluator({
      store,
      rules: () => ruleSet,
      alerts: new RedisAlertStore({ redis, prefix: 'fw' }),
      lease,
      clock,
      notifier: { notify: async () => {} },
      logger: createLogger({ level: 'silent', pretty: false }),
      staleAfterMs: 5 * MIN,
      maxValuesPerDimension: nValues,
    });
    await lease.tryAcquire();
    let t = performance.now();
    const cold = await evaluator.tick(clock.now());
    const coldMs = performance.now() - t;
    log(`cold tick: ${coldMs.toFixed(0)} ms for ${cold.series} series`);
    const steady: number[] = [];
    for (let i = 0; i < steadyTicks; i++) {
      await writeMinute(now0 + i * MIN, perMin);
      clock.set(now0 + (i + 1) * MIN + 5_000);
      await compactAll();
      await lease.tryAcquire();
      t = performance.now();
      const r = await evaluator.tick(clock.now());
      steady.push(performance.now() - t);
      log(
        `steady tick ${i}: ${steady[steady.length - 1]!.toFixed(0)} ms, ` +
          `${r.series} series, ${r.written ?? 0} states written, ${r.transitions.length} transitions`,
      );
    }
    steady.sort((a, b) => a - b);
    return {
      rules: nRules,
      segment_values: nValues,
      series: cold.series,
      cold_tick_ms: Math.round(coldMs),
      eval_ms_per_tick: Math.round(steady[Math.floor(steady.length / 2)]!),
      max_steady_tick_ms: Math.round(steady[steady.length - 1]!),
      events_written: written,
      setup_s: Math.round(setupS),
    };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}
