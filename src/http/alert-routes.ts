/**
 * The alerts API: where every (rule, segment) stands, with its evidence and its likely cause (deploys near the
 * onset, drill-down), read from the alert states in Redis, so any replica answers the same as the leader; and the
 * recent transitions. Read-only; behind the same bearer token as the other /v1 routes, since alerts name segments
 * and deploys.
 *
 *   GET /v1/alerts?status=active|firing|pending|insufficient|resolved|all   (default active = pending + firing)
 *       &rule=<name>&funnel=<name>
 *   GET /v1/alerts/transitions?limit=100   (newest last, at most 1,000)
 */
import type { FastifyPluginAsync } from 'fastify';
import { parseAlertKey } from '../model/alert-key.js';
import type { AlertState, AlertStatus } from '../model/alert-state.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { RuleSet } from '../rules/rule-set.js';
import { bearerAuth } from '../core/bearer-auth.js';
import type { GroupState } from '../notify/grouping.js';

export interface AlertRoutesOptions {
  alerts: { load(): Promise<Map<string, AlertState>>; recentTransitions(limit: number): Promise<AlertTransition[]> };
  /** The incident groups, for `notified`: the receivers that were told the alert fires, and in which incident. */
  groups?: { load(): Promise<Map<string, GroupState>> };
  rules: () => RuleSet | undefined;
  token: string;
}

const FILTERS = ['active', 'firing', 'pending', 'insufficient', 'resolved', 'inactive', 'all'] as const;
type Filter = (typeof FILTERS)[number];

export function alertRoutes(o: AlertRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', bearerAuth(o.token));

    app.get('/v1/alerts', async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const status = (q.status ?? 'active') as Filter;
      if (!FILTERS.includes(status)) {
        return reply.code(400).send({
          error: 'BAD_REQUEST',
          message: `status: one of ${FILTERS.join(', ')}; got ${JSON.stringify(q.status)}`,
        });
      }
      const wanted = (s: AlertStatus) =>
        status === 'all' || (status === 'active' ? s === 'firing' || s === 'pending' : s === status);
      const rules = o.rules();
      const funnelOf = new Map((rules?.rules ?? []).map((r) => [r.name, r.funnel]));
      const out = [];
      const notified = new Map<string, Record<string, { incident: string; at: number }>>();
      for (const g of (await o.groups?.load())?.values() ?? []) {
        for (const key of g.sent?.firing ?? []) {
          const n = notified.get(key) ?? {};
          n[g.receiver] = { incident: g.id, at: g.sent!.at };
          notified.set(key, n);
        }
      }
      for (const [key, s] of await o.alerts.load()) {
        if (!wanted(s.status)) continue;
        const funnel = funnelOf.get(s.rule) ?? /^(.*)\/(data_stale|no_traffic)$/.exec(s.rule)?.[1] ?? null;
        if (q.rule !== undefined && s.rule !== q.rule) continue;
        if (q.funnel !== undefined && funnel !== q.funnel) continue;
        out.push({
          key,
          rule: s.rule,
          funnel,
          segment: s.segment ?? parseAlertKey(key)?.segment ?? null,
          status: s.status,
          since: iso(s.since),
          incidentId: s.incidentId ?? null,
          firedAt: iso(s.firedAt),
          resolvedAt: iso(s.resolvedAt),
          onset: iso(s.evidence?.onset ?? undefined),
          evidence: s.evidence ?? null,
          peak: s.peak ?? null,
          deploys: s.context?.deploys ?? [],
          drilldown: s.context?.drilldown ?? null,
          notified: notified.get(key) ?? {},
          lastEvaluated: iso(s.lastEvaluated),
        });
      }
      // Worst first: firing before pending, then by how far off.
      const rank: Record<string, number> = { firing: 0, pending: 1, insufficient: 2, resolved: 3, inactive: 4 };
      out.sort(
        (a, b) =>
          (rank[a.status] ?? 9) - (rank[b.status] ?? 9) ||
          (b.evidence?.relativeChange ?? 0) - (a.evidence?.relativeChange ?? 0) ||
          a.key.localeCompare(b.key),
      );
      return { alerts: out, ruleSetVersion: rules?.version ?? null };
    });

    app.get('/v1/alerts/transitions', async (req, reply) => {
      const raw = (req.query as Record<string, string | undefined>).limit ?? '100';
      const limit = Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        return reply
          .code(400)
          .send({ error: 'BAD_REQUEST', message: `limit: a whole number from 1 to 1000; got ${JSON.stringify(raw)}` });
      }
      return { transitions: await o.alerts.recentTransitions(limit) };
    });
  };
}

function iso(ms: number | undefined | null): string | null {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
