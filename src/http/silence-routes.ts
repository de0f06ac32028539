/**
 * The silences API:
 *   POST   /v1/silences                 create one → 201 with the silence
 *   GET    /v1/silences?state=…         list, newest first; state active | pending | expired | all (default all)
 *   GET    /v1/silences/:id             one silence → 200, or 404
 *   DELETE /v1/silences/:id             expire it now → 200 with the expired silence, or 404
 * Every silence in an answer carries its `state` at the time of the answer.
 *
 * All four need the bearer token when one is configured, reads included: the list says what is muted, which is
 * what someone hiding an incident would want to know. A bad body is answered 400 BAD_SILENCE with one problem per
 * field, so a person fixes everything in one go.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../obs/logger.js';
import type { SilenceStore } from '../notify/silence-store.js';
import {
  SILENCE_LIMITS,
  formatMatchers,
  silenceState,
  validateSilenceInput,
  type Silence,
  type SilenceState,
} from '../notify/silences.js';
import { bearerAuth } from '../core/bearer-auth.js';

export interface SilenceRoutesOptions {
  store: SilenceStore;
  /** Empty: no authentication (as for ingest, for a daemon reachable only from trusted hosts). */
  token: string;
  clock: Clock;
  logger?: Logger;
}

export type SilenceView = Silence & { state: SilenceState };

const STATE_FILTERS = ['active', 'pending', 'expired', 'all'] as const;
type StateFilter = (typeof STATE_FILTERS)[number];

export function silenceRoutes(opts: SilenceRoutesOptions): FastifyPluginAsync {
  const view = (s: Silence, now: number): SilenceView => ({ ...s, state: silenceState(s, now) });
  const notFound = (id: string) => ({
    error: 'SILENCE_NOT_FOUND',
    message: `no silence with id ${id} (it may have been garbage collected 7 days after it ended)`,
  });

  return async (app) => {
    // onRequest, not preHandler: a request without the token is refused before its body is read and parsed.
    app.addHook(
      'onRequest',
      bearerAuth(opts.token, () => opts.clock.now()),
    );

    app.post('/v1/silences', async (req, reply) => {
      const now = opts.clock.now();
      const checked = validateSilenceInput(req.body, now);
      if (!checked.ok) {
        return reply.code(400).send({
          error: 'BAD_SILENCE',
          message: `the silence was not created: ${checked.problems.join('; ')}`,
          problems: checked.problems,
        });
      }
      // A cap on what every tick matches every alert against. Checked before storing, so a refused silence leaves
      // nothing behind; two creates racing at the cap can overshoot it by one each, which bounds nothing away.
      const live = (await opts.store.list()).filter((x) => silenceState(x, now) !== 'expired').length;
      if (live >= SILENCE_LIMITS.live) {
        return reply.code(409).send({
          error: 'SILENCE_LIMIT',
          message:
            `the silence was not created: ${live} silences are active or pending, the limit is ` +
            `${SILENCE_LIMITS.live}; expire some (DELETE /v1/silences/:id) or widen an existing one`,
        });
      }
      const s = await opts.store.create(checked.value);
      opts.logger?.info(
        {
          silence: s.id,
          matchers: formatMatchers(s.matchers),
          startsAt: new Date(s.startsAt).toISOString(),
          endsAt: new Date(s.endsAt).toISOString(),
          createdBy: s.createdBy,
          comment: s.comment,
        },
        'silence created',
      );
      return reply.code(201).send(view(s, now));
    });

    app.get('/v1/silences', async (req, reply) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      const state = (q.state ?? 'all') as StateFilter;
      if (typeof state !== 'string' || !STATE_FILTERS.includes(state)) {
        return reply.code(400).send({
          error: 'BAD_REQUEST',
          message: `state must be one of ${STATE_FILTERS.join(', ')}; got ${JSON.stringify(q.state)}`,
        });
      }
      const now = opts.clock.now();
      // The store lists newest first already; the filter keeps that order.
      const silences = (await opts.store.list())
        .map((s) => view(s, now))
        .filter((s) => state === 'all' || s.state === state);
      return reply.code(200).send({ silences });
    });

    app.get<{ Params: { id: string } }>('/v1/silences/:id', async (req, reply) => {
      const s = await opts.store.get(req.params.id);
      if (!s) return reply.code(404).send(notFound(req.params.id));
      return reply.code(200).send(view(s, opts.clock.now()));
    });

    app.delete<{ Params: { id: string } }>('/v1/silences/:id', async (req, reply) => {
      const now = opts.clock.now();
      const s = await opts.store.expire(req.params.id, now);
      if (!s) return reply.code(404).send(notFound(req.params.id));
      opts.logger?.info({ silence: s.id, matchers: formatMatchers(s.matchers) }, 'silence expired');
      return reply.code(200).send(view(s, now));
    });
  };
}
