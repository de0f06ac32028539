/**
 * The `alertmanager` receiver against a local HTTP server that answers like Alertmanager's API v2
 * (`POST /api/v2/alerts`: 200 with an empty body for a valid array of postable alerts, 400 with
 * `{"code":400,"message":…}` otherwise, as go-swagger validation does). The planner drives it as the daemon does,
 * minute by minute: the incident's alerts are pushed at once, re-sent every minute while they fire, and sent with
 * endsAt when they resolve.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { stepAlert } from '../../../src/engine/alert-state.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { AlertmanagerReceiver } from '../../../src/notify/alertmanager.js';
import { receiverGrouping, type GroupState } from '../../../src/notify/grouping.js';
import { planDeliveries } from '../../../src/notify/plan.js';
import { createLogger } from '../../../src/obs/logger.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 23, 12, 0);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

interface Posted {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

/** Alertmanager's API v2 as far as a client sees it: validation of postable alerts, 200 or 400. */
async function startAlertmanager(): Promise<{ url: string; posts: Posted[][]; close(): Promise<void> }> {
  const posts: Posted[][] = [];
  const invalid = (body: unknown): string | undefined => {
    if (!Array.isArray(body)) return 'body in body must be of type array';
    for (const [i, a] of (body as Posted[]).entries()) {
      if (!a || typeof a.labels !== 'object' || Object.keys(a.labels).length === 0)
        return `labels in body[${i}] is required`;
      for (const k of Object.keys(a.labels)) if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) return `invalid label name ${k}`;
      for (const t of ['startsAt', 'endsAt'] as const)
        if (a[t] !== undefined && !RFC3339.test(a[t]!)) return `${t} in body[${i}] must be of type date-time`;
    }
    return undefined;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/am/api/v2/alerts') {
        res.writeHead(404).end('not found');
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(s);
      } catch {
        body = undefined;
      }
      const problem = invalid(body);
      if (problem) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 400, message: problem }));
        return;
      }
      posts.push(body as Posted[]);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/am`, posts, close: () => new Promise((r) => server.close(() => r())) };
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

describe('AlertmanagerReceiver', () => {
  it('pushes the incident at once, re-sends it every minute while it fires, and sends endsAt on resolve', async () => {
    const am = await startAlertmanager();
    const receiver = new AlertmanagerReceiver({
      def: { name: 'am', kind: 'alertmanager', url: am.url, externalUrl: 'https://funnelwatch.example.com' },
      logger: createLogger({ level: 'silent', pretty: false }),
    });
    closers.push(
      () => am.close(),
      () => receiver.close(),
    );
    const rule = 'checkout-completion-drop';
    const segment = { dimension: 'payment_provider', value: 'stripe' };
    const key = alertKey(rule, segment);
    let state: AlertState | undefined;
    let groups = new Map<string, GroupState>();
    const alertOf = (s: AlertState, kind: AlertTransition['kind'], at: number): AlertTransition => ({
      id: transitionId(s),
      kind,
      at,
      rule,
      funnel: 'checkout',
      segment,
      severity: 'critical',
      notify: ['am'],
      labels: { team: 'payments' },
      incidentId: s.incidentId,
      from: 'inactive',
      to: s.status,
      ruleSetVersion: 'v1',
    });
    const minute = async (k: number, breach: boolean) => {
      const now = T0 + k * MIN;
      const step = stepAlert(state, rule, segment, { condition: breach ? 'breach' : 'ok' }, now, {
        forMs: 0,
        resolveAfterMs: 2 * MIN,
      });
      state = step.next;
      const plan = planDeliveries({
        now,
        states: new Map([[key, state]]),
        transitions: step.transition ? [alertOf(state, step.transition, now)] : [],
        silences: [],
        receivers: new Map([['am', receiverGrouping({ kind: 'alertmanager' }, 4 * 60 * MIN)]]),
        groups,
        describe: (_k, s) => alertOf(s, 'firing', now),
      });
      groups = plan.groups;
      for (const job of plan.jobs) expect(await receiver.deliver(job)).toEqual({ ok: true });
      return plan.jobs.map((j) => j.event);
    };

    expect(await minute(0, true)).toEqual(['firing']);
    expect(await minute(1, true)).toEqual(['reminder']);
    expect(await minute(2, true)).toEqual(['reminder']);
    // Recovered from minute 3; the alert resolves after resolve_after (2 min), re-sent every minute until then.
    const ends: string[] = [];
    for (let k = 3; k <= 9; k++) ends.push(...(await minute(k, false)));
    expect(ends).toEqual(['reminder', 'reminder', 'resolved']);

    expect(am.posts).toHaveLength(6);
    const [first, ...rest] = am.posts;
    expect(first).toEqual([
      {
        labels: {
          team: 'payments',
          alertname: rule,
          rule,
          funnel: 'checkout',
          severity: 'critical',
          segment: 'payment_provider=stripe',
          payment_provider: 'stripe',
        },
        annotations: { summary: `${rule} [payment_provider=stripe]` },
        startsAt: new Date(T0).toISOString(),
        generatorURL: `https://funnelwatch.example.com/v1/alerts?rule=${rule}`,
      },
    ]);
    // Re-sent unchanged while firing (no endsAt: Alertmanager keeps it alive for resolve_timeout each time).
    expect(rest.slice(0, 4)).toEqual([first, first, first, first]);
    const last = rest[4]![0]!;
    expect(last.labels).toEqual(first![0]!.labels);
    expect(last.endsAt).toMatch(RFC3339);
    expect(Date.parse(last.endsAt!)).toBeGreaterThan(T0 + 3 * MIN);
  });

  it('a path Alertmanager does not serve is a permanent failure; label names are made valid', async () => {
    const am = await startAlertmanager();
    const bad = new AlertmanagerReceiver({
      def: { name: 'am', kind: 'alertmanager', url: `${am.url}/wrong` },
      logger: createLogger({ level: 'silent', pretty: false }),
    });
    closers.push(
      () => am.close(),
      () => bad.close(),
    );
    const job = {
      id: 'j',
      receiver: 'am',
      event: 'firing' as const,
      createdAt: T0,
      attempt: 0,
      alert: {
        id: 'x#1',
        kind: 'firing' as const,
        at: T0,
        rule: 'r',
        funnel: 'f',
        segment: null,
        severity: 'warning' as const,
        notify: ['am'],
        labels: { 'bad-label': 'x' },
        from: 'pending' as const,
        to: 'firing' as const,
        ruleSetVersion: 'v',
      },
    };
    // A path Alertmanager does not serve: 404, permanent.
    expect(await bad.deliver(job)).toMatchObject({ ok: false, retriable: false, code: 'ALERTMANAGER_HTTP_404' });
    // Labels are made valid label names before sending (bad-label → bad_label): accepted.
    const good = new AlertmanagerReceiver({
      def: { name: 'am', kind: 'alertmanager', url: am.url },
      logger: createLogger({ level: 'silent', pretty: false }),
    });
    closers.push(() => good.close());
    expect(await good.deliver(job)).toEqual({ ok: true });
    expect(am.posts[0]![0]!.labels.bad_label).toBe('x');
  });
});
