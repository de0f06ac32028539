/**
 * Sharded evaluation (FW_EVAL_SHARDING=funnel) with in-process daemons against the real test Redis: the shop
 * funnel (whose paid-drop alert fires) and six quiet funnels, eight shards with `~global`. Two daemons, then a third
 * joining, then one stopping (graceful) and one dying (its Redis connection cut: no heartbeat, no release): after
 * each change the shards settle on the rendezvous owners of the live members, and at every minute tick each funnel
 * is evaluated by exactly one replica. The shop alert fires once, is delivered once, and its state and incident
 * group continue across both moves of its shard (no second firing transition, same incident, same seq).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { rendezvousOwner } from '../../../src/engine/shards.js';
import { shardPlan } from '../../../src/engine/shard-plan.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { eventually, redisClient, redisUrl, uniquePrefix } from '../../support/env.js';
import { MIN, shopMinute, shopRulesDir, startWebhook } from '../../support/shop-daemon.js';
import { funnelYaml, shardRulesDir } from '../../support/shard-rules.js';

const TTL_MS = 1_500;
const QUIET = ['f0', 'f1', 'f2', 'f3', 'f4', 'f5'];

/** A webhook, the rules (shop + quiet funnels), and the means to start, settle and tick sharded daemons. */
async function scenario() {
  const hook = await startWebhook();
  onTestFinished(() => hook.close());
  const dir = shopRulesDir(hook.url);
  for (const f of QUIET) writeFileSync(join(dir, `${f}.yaml`), funnelYaml(f));
  const prefix = uniquePrefix();
  const redis = redisClient();

  const start = async (id: string, sharding: 'funnel' | 'off' = 'funnel') => {
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: prefix,
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: dir,
      FW_INSTANCE_ID: id,
      FW_EVAL_SHARDING: sharding,
      FW_LEASE_TTL_MS: String(TTL_MS),
      // The test drives the evaluation ticks itself.
      FW_TICK_SCHEDULE: '0 0 1 1 *',
      FW_DELIVERY_BACKOFF_MS: '100',
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => d.stop());
    await d.start();
    return d;
  };

  /** Waits until the live daemons hold exactly the rendezvous assignment over themselves, each shard once. */
  const settle = async (ds: Daemon[]) => {
    const shards = shardPlan(ds[0]!.rules.current!).shards;
    const owners = ds.map((d) => d.sharding!.owner).sort();
    await eventually(
      async () => {
        for (const d of ds) await d.sharding!.coordinator.beat();
        for (const d of ds) if (d.sharding!.coordinator.members().join() !== owners.join()) return undefined;
        for (const shard of shards) {
          const holders = ds.filter((d) => d.sharding!.coordinator.owned().has(shard));
          if (holders.length !== 1 || holders[0]!.sharding!.owner !== rendezvousOwner(shard, owners)) return undefined;
        }
        return true;
      },
      TTL_MS * 20,
      `${ds.length} replicas holding the rendezvous assignment`,
    );
  };

  /** One minute tick on every live replica; returns per funnel how many replicas evaluated it, and the reports. */
  const tickAll = async (ds: Daemon[], now: number) => {
    const reports = (await Promise.all(ds.map((d) => d.sharding!.tick(now)))).flat();
    const looks = new Map<string, number>();
    for (const r of reports)
      if (r.report.outcome === 'evaluated')
        for (const f of r.report.funnels) looks.set(f.funnel, (looks.get(f.funnel) ?? 0) + 1);
    return { looks, reports };
  };
  const expectOnce = (looks: Map<string, number>) =>
    expect(Object.fromEntries(looks)).toEqual(Object.fromEntries(['shop', ...QUIET].map((f) => [f, 1])));
  const shopHolder = (ds: Daemon[]) => ds.find((d) => d.sharding!.coordinator.owned().has('shop'))!;
  const shopState = async () =>
    JSON.parse((await redis.hget(alertsKeys(prefix).state, 'paid-drop'))!) as {
      status: string;
      seq: number;
      incidentId: string;
    };
  const sendHistory = async (d: Daemon) => {
    // 100 minutes ending a minute ago, 3 of 4 checkouts paid until the last 12 minutes (then 1 in 8).
    const t0 = Math.floor(Date.now() / MIN) * MIN - 100 * MIN;
    const events = Array.from({ length: 100 }, (_, k) => shopMinute(t0, k, 88)).flat();
    const sent = await fetch(`${d.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(await sent.json()).toMatchObject({ rejected: 0 });
  };
  return { hook, dir, prefix, redis, start, settle, tickAll, expectOnce, shopHolder, shopState, sendHistory };
}

describe('sharded evaluation across replicas', () => {
  it('each funnel evaluated once per tick by 2, 3, 2, 1 replicas; the alert moves with its shard', async () => {
    const { hook, prefix, redis, start, settle, tickAll, expectOnce, shopHolder, shopState, sendHistory } =
      await scenario();
    const a = await start('shard-a');
    const b = await start('shard-b');
    await sendHistory(a);

    let now = Date.now();
    await settle([a, b]);
    const first = await tickAll([a, b], now);
    expectOnce(first.looks);
    const fired = first.reports.flatMap((r) => r.report.transitions).filter((t) => t.kind === 'firing');
    expect(fired.map((t) => t.rule)).toEqual(['paid-drop']);
    await eventually(() => (hook.bodies.some((x) => x.event === 'firing') ? true : undefined), 30_000, 'page');
    const opened = await shopState();
    expect(opened.status).toBe('firing');

    // A third replica joins: it takes its share once the others let go, and still each funnel is looked at once.
    const c = await start('shard-c');
    await settle([a, b, c]);
    now += MIN;
    expectOnce((await tickAll([a, b, c], now)).looks);

    // The holder of the shop shard goes; once the rest settled, each funnel is still looked at once and the alert
    // continues where it was (no second firing, same incident and seq).
    const live = [a, b, c];
    const shopMoves = async (go: (d: Daemon) => Promise<void> | void) => {
      const gone = shopHolder(live);
      await go(gone);
      live.splice(live.indexOf(gone), 1);
      await settle(live);
      now += MIN;
      const after = await tickAll(live, now);
      expectOnce(after.looks);
      expect(after.reports.flatMap((r) => r.report.transitions).filter((t) => t.kind === 'firing')).toEqual([]);
      expect(await shopState()).toMatchObject({ status: 'firing', seq: opened.seq, incidentId: opened.incidentId });
    };
    // Stops: its shards move to the others at once (released).
    await shopMoves((d) => d.stop());
    // Dies: no release, no heartbeat; the last replica takes every shard once heartbeat and leases have lapsed.
    await shopMoves((d) => d.redis.disconnect());
    // The incident group was notified once, and is still the one open group.
    expect(hook.bodies.filter((x) => x.event === 'firing')).toHaveLength(1);
    const groups = await redis.hgetall(alertsKeys(prefix).groups);
    expect(Object.keys(groups)).toHaveLength(1);

    // /readyz and the metrics say what the last replica holds.
    const ready = (await (await fetch(`${live[0]!.httpUrl}/readyz`)).json()) as {
      checks: Record<string, { detail?: { owned: string[]; members: string[] } }>;
    };
    expect(ready.checks['evaluation-shards']?.detail?.owned).toEqual(shardPlan(live[0]!.rules.current!).shards);
    expect(ready.checks['evaluation-shards']?.detail?.members).toEqual([live[0]!.sharding!.owner]);
    const metrics = await (await fetch(`${live[0]!.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fw_eval_shards_owned 8$/m);
    expect(metrics).toMatch(/^fw_eval_shard_members 1$/m);
  }, 180_000);

  it('a rule removed from the files is resolved and its state deleted by exactly one replica', async () => {
    const { dir, prefix, redis, start, settle, tickAll, shopState, sendHistory } = await scenario();
    const a = await start('retire-a');
    const b = await start('retire-b');
    await sendHistory(a);
    await settle([a, b]);
    let now = Date.now();
    await tickAll([a, b], now);
    expect((await shopState()).status).toBe('firing');

    // The rule is renamed in the files: `paid-drop` no longer exists, and both replicas load the new set.
    const file = join(dir, 'shop.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('name: paid-drop', 'name: paid-drop-v2'));
    await Promise.all([a.reloadRules(), b.reloadRules()]);
    expect(a.rules.current!.version).toBe(b.rules.current!.version);
    await settle([a, b]);
    now += MIN;
    const { reports } = await tickAll([a, b], now);
    const retired = reports.flatMap((r) =>
      r.report.transitions.filter((t) => t.rule === 'paid-drop').map((t) => ({ shard: r.shard, kind: t.kind })),
    );
    expect(retired).toEqual([{ shard: '~global', kind: 'resolved' }]);
    expect(await redis.hget(alertsKeys(prefix).state, 'paid-drop')).toBeNull();
    // The renamed rule is evaluated afresh in the shop's shard.
    const renamed = reports.flatMap((r) => r.report.transitions.filter((t) => t.rule === 'paid-drop-v2'));
    expect(renamed.map((t) => t.kind)).toEqual(['firing']);
  }, 180_000);

  it('a sharded replica stands by while an unsharded one holds the lease, and takes everything after it', async () => {
    const { start, settle, tickAll, expectOnce, sendHistory } = await scenario();
    const old = await start('mixed-old', 'off');
    const sharded = await start('mixed-new');
    await sendHistory(old);
    await eventually(() => (old.lease.isLeader() ? true : undefined), 20_000, 'the unsharded replica leads');
    await settle([sharded]);
    const now = Date.now();
    const [unsharded, shardedReports] = await Promise.all([old.evaluator.tick(now), sharded.sharding!.tick(now)]);
    expect(unsharded.outcome).toBe('evaluated');
    expect(unsharded.funnels).toHaveLength(7);
    expect(shardedReports).toEqual([]);
    await old.stop();
    expectOnce((await tickAll([sharded], now + MIN)).looks);
  }, 180_000);

  it('funnels whose incidents a receiver groups across funnels share one shard, and the log says why', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: shardRulesDir(3, { crossFunnel: true }),
      FW_INSTANCE_ID: 'merged',
      FW_EVAL_SHARDING: 'funnel',
      FW_LEASE_TTL_MS: String(TTL_MS),
      FW_TICK_SCHEDULE: '0 0 1 1 *',
    });
    const d = new Daemon({ config, logger });
    onTestFinished(() => d.stop());
    await d.start();
    await eventually(
      async () => {
        await d.sharding!.coordinator.beat();
        return d.sharding!.status().owned.join() === 'f0+f1+f2,~global' ? true : undefined;
      },
      20_000,
      'one shard for the three funnels',
    );
    const merged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.shard === 'f0+f1+f2');
    expect(merged).toMatchObject({ receivers: ['hook'], msg: expect.stringMatching(/group_by leaves out funnel/) });
    const reports = await d.sharding!.tick(Date.now());
    const looks = reports.flatMap((r) => r.report.funnels.map((f) => `${r.shard}:${f.funnel}`));
    expect(looks.sort()).toEqual(['f0+f1+f2:f0', 'f0+f1+f2:f1', 'f0+f1+f2:f2']);
  }, 60_000);
});
