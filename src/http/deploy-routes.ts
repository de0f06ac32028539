/**
 * The deploy markers API:
 *   POST /v1/deploys     record one → 201 with the deploy (`duplicate: false`), or 200 with the stored one and
 *                        `duplicate: true` when the same marker (service, version, environment, ts) was already
 *                        recorded; 400 BAD_DEPLOY with one problem per field
 *   GET  /v1/deploys?since=&until=&service=&environment=&limit=
 *                        newest first → { deploys: [...] }; since/until as ISO time, ms, or a duration back from now
 *                        (`24h`); limit 1..1000, default 100
 *
 * Both need the bearer token when one is configured: markers steer what an alert names as the likely cause, so
 * writing them is as sensitive as ingesting events, and the list tells who shipped what when.
 *
 * `onDeploy` runs after a new marker is stored and is not awaited: forwarding it (PagerDuty change events) must not
 * hold up, or fail, the CI step that sent it.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../obs/logger.js';
import { errorMessage } from '../core/errors.js';
import { parseWhen, validateDeployInput, type Deploy } from '../deploys/deploy.js';
import { DEPLOY_LIST_MAX_LIMIT, type DeployStore } from '../deploys/deploy-store.js';
import { bearerAuth } from '../core/bearer-auth.js';

export interface DeployRoutesOptions {
  store: DeployStore;
  /** Empty: no authentication (as for ingest, for a daemon reachable only from trusted hosts). */
  token: string;
  clock: Clock;
  logger?: Logger;
  /** Called (not awaited) after a new marker is stored; a duplicate does not call it. */
  onDeploy?: (deploy: Deploy) => void | Promise<void>;
}

export type DeployAnswer = Deploy & { duplicate: boolean };

/** A marker is well under 8 KB at its limits; anything far beyond is not a marker. */
const BODY_LIMIT_BYTES = 64 * 1024;
const QUERY_PARAMS = ['since', 'until', 'service', 'environment', 'limit'] as const;
export function deployRoutes(opts: DeployRoutesOptions): FastifyPluginAsync {
  const log = opts.logger?.child({ component: 'deploys' });

  const forward = (d: Deploy): void => {
    if (!opts.onDeploy) return;
    try {
      Promise.resolve(opts.onDeploy(d)).catch((err: unknown) =>
        log?.warn({ deploy: d.id, err: errorMessage(err) }, 'onDeploy failed'),
      );
    } catch (err) {
      log?.warn({ deploy: d.id, err: errorMessage(err) }, 'onDeploy failed');
    }
  };

  return async (app) => {
    // onRequest, not preHandler: a request without the token is refused before its body is read and parsed.
    app.addHook('onRequest', bearerAuth(opts.token));

    app.post('/v1/deploys', { bodyLimit: BODY_LIMIT_BYTES }, async (req, reply) => {
      const checked = validateDeployInput(req.body, opts.clock.now(), { maxAgeMs: opts.store.retentionMs });
      if (!checked.ok) {
        return reply.code(400).send({
          error: 'BAD_DEPLOY',
          message: `the deploy marker was not recorded: ${checked.problems.join('; ')}`,
          problems: checked.problems,
        });
      }
      const { deploy, duplicate } = await opts.store.add(checked.value);
      if (duplicate) {
        log?.debug(
          { deploy: deploy.id, service: deploy.service, version: deploy.version },
          'deploy marker already recorded',
        );
        return reply.code(200).send({ ...deploy, duplicate: true } satisfies DeployAnswer);
      }
      log?.info(
        {
          deploy: deploy.id,
          service: deploy.service,
          version: deploy.version,
          environment: deploy.environment,
          ts: new Date(deploy.ts).toISOString(),
          author: deploy.author,
        },
        'deploy marker recorded',
      );
      forward(deploy);
      return reply.code(201).send({ ...deploy, duplicate: false } satisfies DeployAnswer);
    });

    app.get('/v1/deploys', async (req, reply) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      const bad = (message: string) => reply.code(400).send({ error: 'BAD_REQUEST', message });
      for (const k of Object.keys(q)) {
        if (!(QUERY_PARAMS as readonly string[]).includes(k))
          return bad(`unknown query parameter "${k}"; the known ones are ${QUERY_PARAMS.join(', ')}`);
        if (typeof q[k] !== 'string') return bad(`give ${k} once`);
      }
      const s = q as Partial<Record<(typeof QUERY_PARAMS)[number], string>>;
      const now = opts.clock.now();
      const times: { since?: number; until?: number } = {};
      for (const k of ['since', 'until'] as const) {
        const v = s[k];
        if (v === undefined) continue;
        const t = parseWhen(v, now);
        if (!t.ok) return bad(`${k}: ${t.message}`);
        times[k] = t.ms;
      }
      let limit: number | undefined;
      if (s.limit !== undefined) {
        limit = /^\d+$/.test(s.limit.trim()) ? Number(s.limit.trim()) : NaN;
        if (!(limit >= 1 && limit <= DEPLOY_LIST_MAX_LIMIT))
          return bad(`limit: give a whole number from 1 to ${DEPLOY_LIST_MAX_LIMIT}; got "${s.limit}"`);
      }
      for (const k of ['service', 'environment'] as const)
        if (s[k] !== undefined && s[k].trim() === '') return bad(`${k}: must not be empty`);
      const deploys = await opts.store.list({
        ...times,
        ...(s.service !== undefined ? { service: s.service.trim() } : {}),
        ...(s.environment !== undefined ? { environment: s.environment.trim() } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
      return reply.code(200).send({ deploys });
    });
  };
}
