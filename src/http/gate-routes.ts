/**
 * The canary gate API, behind the same bearer token as the other /v1 routes:
 *
 *   GET  /v1/gates                                   the gates of the active rule set
 *   GET  /v1/gates/<name>/verdict?canary=&baseline=[&since=][&weight=][&split_by=]
 *        → 200 with the verdict and its evidence (gates/gate-evidence.ts). What Argo Rollouts' `web` metric
 *          provider reads (`jsonPath: "{$.verdict}"`): always JSON, also for errors (a non-JSON body counts as
 *          success in released Argo versions).
 *   GET  /v1/gates/<name>/evidence?canary=&baseline=[&split_by=]   the stored evidence record
 *   POST /v1/gates/<name>/flagger                    Flagger's webhook payload {name, namespace, phase, checksum,
 *        metadata: {canary, baseline, hook, since?, weight?}} (`hook` may also be a query parameter):
 *          hook rollout (or pre-rollout): 200 unless the verdict is fail (a canary not seen yet is not a fail);
 *          hook confirm-promotion: 200 only on pass.
 *        A "no" is 409 GATE_CLOSED with the verdict: a 4xx, so Flagger's retrying client does not retry it.
 *        Flagger cannot send headers: this route also takes the token as `metadata.token`.
 *
 * `since`: ISO 8601 with a zone, ms, or a duration back from now (`2h`); `weight`: `10%` or `0.1`.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Clock } from '../core/clock.js';
import { FwError } from '../core/errors.js';
import { bearerAuth, tokenMatcher } from '../core/bearer-auth.js';
import type { Logger } from '../obs/logger.js';
import { parseWhen } from '../deploys/deploy.js';
import type { GateService, VerdictRequest } from '../gates/gate-service.js';
import type { GateEvidence } from '../gates/gate-evidence.js';

export interface GateRoutesOptions {
  gates: GateService;
  token: string;
  clock: Clock;
  logger?: Logger;
}

const VERDICT_PARAMS = ['canary', 'baseline', 'since', 'weight', 'split_by'] as const;
const EVIDENCE_PARAMS = ['canary', 'baseline', 'split_by'] as const;
/** Flagger hooks the gate answers, and what each lets through. */
const HOOKS = {
  rollout: 'unless_fail',
  'pre-rollout': 'unless_fail',
  'confirm-promotion': 'only_pass',
} as const;
type Hook = keyof typeof HOOKS;

export function gateRoutes(o: GateRoutesOptions): FastifyPluginAsync {
  const log = o.logger?.child({ component: 'gates' });
  const byHeader = bearerAuth(o.token);
  const matches = tokenMatcher(o.token);
  return async (root) => {
    root.register(flaggerRoute);
    root.register(async (app) => {
      app.addHook('onRequest', byHeader);
      readRoutes(app);
    });
  };

  // Flagger's webhooks cannot send headers: the token may come as metadata.token instead (checked before anything
  // else is read), or as the usual bearer header from a proxy in between.
  async function flaggerRoute(app: FastifyInstance): Promise<void> {
    app.addHook('preHandler', async (req, reply) => {
      if (!o.token || req.headers.authorization) return byHeader(req, reply);
      const t = (req.body as { metadata?: { token?: unknown } } | null)?.metadata?.token;
      if (typeof t === 'string' && matches(t)) return;
      return reply.code(401).send({
        error: 'UNAUTHORIZED',
        message:
          'Flagger webhooks need the API token: put it in the webhook metadata as token (or send an ' +
          '"Authorization: Bearer <token>" header through a proxy)',
      });
    });
    flaggerPost(app);
  }

  function readRoutes(app: FastifyInstance): void {
    app.get('/v1/gates', async () => ({ gates: o.gates.list() }));

    app.get<{ Params: { name: string } }>('/v1/gates/:name/verdict', async (req) => {
      const q = queryOf(req.query, VERDICT_PARAMS);
      return o.gates.verdict(verdictRequest(req.params.name, q, o.clock.now()));
    });

    app.get<{ Params: { name: string } }>('/v1/gates/:name/evidence', async (req) => {
      const q = queryOf(req.query, EVIDENCE_PARAMS);
      return o.gates.evidence({
        gate: req.params.name,
        canary: required(q, 'canary'),
        baseline: required(q, 'baseline'),
        ...(q.split_by !== undefined ? { splitBy: q.split_by } : {}),
      });
    });
  }

  function flaggerPost(app: FastifyInstance): void {
    app.post<{ Params: { name: string } }>('/v1/gates/:name/flagger', { bodyLimit: 64 * 1024 }, async (req, reply) => {
      const body = req.body as { metadata?: unknown; name?: unknown; namespace?: unknown; phase?: unknown } | null;
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new FwError('BAD_REQUEST', "the body must be Flagger's webhook payload (a JSON object with metadata)");
      const meta = body.metadata ?? {};
      if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
        throw new FwError('BAD_REQUEST', 'metadata must be an object of strings (the webhook metadata in the Canary)');
      const m = meta as Record<string, unknown>;
      const strings: Record<string, string> = {};
      for (const k of [...VERDICT_PARAMS, 'hook', 'token'] as const) {
        if (m[k] === undefined) continue;
        if (typeof m[k] !== 'string') throw new FwError('BAD_REQUEST', `metadata.${k} must be a string`);
        strings[k] = m[k];
      }
      const hookText = strings.hook ?? (req.query as Record<string, unknown>).hook;
      if (typeof hookText !== 'string' || !Object.hasOwn(HOOKS, hookText))
        throw new FwError(
          'BAD_REQUEST',
          `metadata.hook (or ?hook=) must say which Flagger webhook this is: ${Object.keys(HOOKS).join(', ')}; ` +
            `got ${JSON.stringify(hookText ?? null)}`,
        );
      const hook = hookText as Hook;
      const who = { canary: body.name, namespace: body.namespace, phase: body.phase, hook };
      let e: GateEvidence;
      try {
        e = await o.gates.verdict(verdictRequest(req.params.name, strings, o.clock.now(), 'metadata.'));
      } catch (err) {
        // A canary without traffic yet is not failing: the rollout goes on (confirm-promotion still waits).
        if (err instanceof FwError && err.code === 'GATE_VALUE_UNSEEN' && HOOKS[hook] === 'unless_fail') {
          log?.info({ ...who, reason: err.message }, 'flagger: no data for the canary yet; not a failure');
          return reply
            .code(200)
            .send({ hook, open: true, verdict: 'inconclusive', reason: 'no_data', message: err.message });
        }
        throw err;
      }
      const open = HOOKS[hook] === 'unless_fail' ? e.verdict !== 'fail' : e.verdict === 'pass';
      log?.info({ ...who, verdict: e.verdict, open }, `flagger ${hook}: ${open ? 'go' : 'no'}`);
      if (open) return reply.code(200).send({ hook, open, ...e });
      return closed(reply, hook, e);
    });
  }
}

function closed(reply: FastifyReply, hook: Hook, e: GateEvidence) {
  const why =
    hook === 'confirm-promotion'
      ? `the verdict is ${e.verdict}, not pass: promotion waits`
      : `the verdict is fail: ${e.explanation}`;
  return reply.code(409).send({
    error: 'GATE_CLOSED',
    message: `gate ${e.gate} (${e.canary.value} vs ${e.baseline.value}): ${why}`,
    hook,
    open: false,
    ...e,
  });
}

function queryOf<K extends string>(raw: unknown, known: readonly K[]): Partial<Record<K, string>> {
  const q = (raw ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(q)) {
    if (!(known as readonly string[]).includes(k))
      throw new FwError('BAD_REQUEST', `unknown query parameter "${k}"; the known ones are ${known.join(', ')}`);
    if (typeof q[k] !== 'string') throw new FwError('BAD_REQUEST', `give ${k} once`);
  }
  return q as Partial<Record<K, string>>;
}

function required(q: Partial<Record<string, string>>, k: string, where = ''): string {
  const v = q[k]?.trim();
  if (!v) throw new FwError('BAD_REQUEST', `${where}${k} is required: the ${k} value of the gate's dimension`);
  return v;
}

function verdictRequest(
  gate: string,
  q: Partial<Record<(typeof VERDICT_PARAMS)[number], string>>,
  now: number,
  where = '',
): VerdictRequest {
  const r: VerdictRequest = { gate, canary: required(q, 'canary', where), baseline: required(q, 'baseline', where) };
  if (q.since !== undefined) {
    const t = parseWhen(q.since, now);
    if (!t.ok) throw new FwError('BAD_REQUEST', `${where}since: ${t.message}`);
    r.since = t.ms;
  }
  if (q.weight !== undefined) {
    const w = q.weight.trim();
    const v = w.endsWith('%') ? Number(w.slice(0, -1)) / 100 : Number(w);
    if (!/^\d*\.?\d+%?$/.test(w) || !(v > 0 && v < 1))
      throw new FwError(
        'BAD_REQUEST',
        `${where}weight: the canary's expected share, e.g. 10% or 0.1 (between 0 and 1); got "${q.weight}"`,
      );
    r.weight = v;
  }
  if (q.split_by !== undefined) r.splitBy = q.split_by.trim();
  return r;
}
