/**
 * Incident groups across SIGKILL, with the real daemon (dist/main.js) evaluating and delivering: a shop's drop
 * fires, its incident group waits out a 20 s group_wait, and the daemon is killed during the wait; the restarted
 * daemon (a new leader) notifies the group when the wait is over, once. Then the trigger's delivery is held in
 * flight at the webhook and the daemon killed again; the next daemon delivers it, and the webhook answers exactly
 * one trigger for the group. "Never twice" is read from positive state, not from waiting: once the trigger is
 * answered, the group's stored record says it was sent, the outbox is empty and the delivery log says `open`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { parseGroup } from '../../../src/notify/group-store.js';
import { parseStoredDelivery } from '../../../src/notify/delivery-log.js';
import { spawnDaemon, type DaemonChild } from '../../support/daemon.js';
import { eventually, redisClient, redisUrl, uniquePrefix } from '../../support/env.js';
import { MIN, shopMinute, shopRulesDir } from '../../support/shop-daemon.js';

interface Hook {
  url: string;
  /** Bodies of the requests answered 200 (delivered). */
  answered: { event: string; jobId: string; group?: string }[];
  /** Requests received, answered or not. */
  received: number;
  /** The next request is held unanswered (as a hung receiver) until the connection goes. */
  holdNext(): Promise<void>;
}

async function startHook(): Promise<Hook> {
  const answered: Hook['answered'] = [];
  let received = 0;
  let hold: (() => void) | null = null;
  const read = async (req: IncomingMessage) => {
    let s = '';
    for await (const c of req) s += String(c);
    return s;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void read(req).then((s) => {
      received++;
      if (hold) {
        const h = hold;
        hold = null;
        h();
        return; // never answered: the daemon is killed with this request in flight
      }
      const body = JSON.parse(s) as { event: string; jobId: string };
      answered.push({ event: body.event, jobId: body.jobId, group: body.jobId.split('/firing/')[0] });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    answered,
    get received() {
      return received;
    },
    holdNext: () => new Promise<void>((r) => (hold = r)),
  };
}

describe('incident groups across SIGKILL', () => {
  it('killed during group_wait and during the delivery: the group is notified, exactly once', async () => {
    const hook = await startHook();
    const prefix = uniquePrefix();
    const keys = alertsKeys(prefix);
    const redis = redisClient();
    const env = {
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: prefix,
      FW_RULES_DIR: shopRulesDir(hook.url, '20s'),
      FW_HTTP_HOST: '127.0.0.1',
      FW_LOG_LEVEL: 'info',
      FW_TICK_SCHEDULE: '* * * * * *',
      FW_LEASE_TTL_MS: '3000',
      FW_DELIVERY_BACKOFF_MS: '100',
      FW_DELIVERY_CLAIM_IDLE_MS: '1500',
      FW_DELIVERY_TIMEOUT_MS: '20000',
    };
    const start = async (): Promise<{ d: DaemonChild; url: string }> => {
      const d = spawnDaemon(env);
      const url = await eventually(
        () => /"url":"(http:[^"]+)"[^\n]*"http server listening"/.exec(d.output())?.[1],
        30_000,
        'daemon listening',
      );
      return { d, url };
    };
    const kill = async (d: DaemonChild) => {
      d.proc.kill('SIGKILL');
      await d.exited;
    };
    const groups = async () => Object.values(await redis.hgetall(keys.groups)).map((g) => parseGroup(g)!);

    // 1. The drop fires; its group is stored, waiting out group_wait; the daemon is killed then.
    const a = await start();
    await eventually(async () => ((await fetch(`${a.url}/readyz`)).status === 200 ? true : undefined), 30_000, 'ready');
    const t0 = Math.floor(Date.now() / MIN) * MIN - 100 * MIN;
    const events = Array.from({ length: 100 }, (_, k) => shopMinute(t0, k, 88)).flat();
    const sent = await fetch(`${a.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(sent.status).toBe(200);
    const waiting = await eventually(
      async () => {
        const gs = await groups();
        return gs.length === 1 && gs[0]!.sent === undefined ? gs[0] : undefined;
      },
      60_000,
      'a group waiting out its group_wait',
    );
    await kill(a.d);
    // Killed during the wait: nothing was sent, and the stored group still waits.
    expect(hook.received).toBe(0);
    expect((await groups()).map((g) => [g.id, g.sent])).toEqual([[waiting.id, undefined]]);

    // 2. Restarted: the group survived (same id), its trigger is decided after the wait, and delivery is cut off by
    //    a kill while the webhook holds the request.
    const held = hook.holdNext();
    const b = await start();
    await held;
    const [during] = await groups();
    expect(during?.id).toBe(waiting.id);
    expect(during?.sent?.action).toBe('trigger');
    expect(during!.sent!.at - waiting.openedAt).toBeGreaterThanOrEqual(20_000);
    await kill(b.d);
    expect(hook.answered).toEqual([]);

    // 3. The next daemon takes the unsettled job over and delivers it; afterwards nothing is left to send.
    const c = await start();
    await eventually(() => (hook.answered.length > 0 ? true : undefined), 60_000, 'trigger delivered');
    await eventually(
      async () => {
        const [queued, delayed] = await Promise.all([redis.xlen(keys.outbox), redis.zcard(keys.delayed)]);
        const log = parseStoredDelivery(await redis.hget(keys.delivery, `hook|${waiting.id}`));
        return queued === 0 && delayed === 0 && log?.state === 'open' ? true : undefined;
      },
      30_000,
      'outbox drained and the trigger recorded',
    );
    expect(hook.answered.filter((b) => b.event === 'firing')).toHaveLength(1);
    expect(hook.answered[0]!.jobId).toBe(`${waiting.id}/firing/hook`);
    expect((await groups())[0]?.id).toBe(waiting.id);
    c.d.proc.kill('SIGTERM');
    expect(await c.d.exited).toBe(0);
  }, 240_000);
});
