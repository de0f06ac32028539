/**
 * The daemon's HTTP server (fastify): operations endpoints here, and features register their own routes as
 * encapsulated plugins (ingest, deploys, silences, alerts API) through `routes`.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { Readiness } from './readiness.js';
import { errorAnswer } from './error-answer.js';
import { FwError } from '../core/errors.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan, tooDeepMessage } from '../core/json-depth.js';

export { MAX_JSON_DEPTH };

export interface HttpServerDeps {
  logger: Logger;
  metrics: Metrics;
  readiness: Readiness;
  version: string;
  routes?: FastifyPluginAsync[];
  bodyLimitBytes?: number;
}

export function buildHttpServer(deps: HttpServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // Request logs would drown the ingest path; errors are still logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes ?? 5 * 1024 * 1024,
  });

  // Every error answer has the same shape: a stable code from the catalog and a message a person can act on.
  app.setErrorHandler((err, req, reply) => {
    const answer = errorAnswer(err, req.id);
    if (answer.serverSide) req.log.error({ err, code: answer.body.error }, 'request failed');
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` });
  });

  // fastify's JSON parser (prototype-poisoning checks and all), after a depth check on the text: JSON nested
  // thousands deep is refused with 400 before anything walks it recursively (which would overflow the stack: 500).
  const defaultJson = app.getDefaultJsonParser('error', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonNestsDeeperThan(body as string, MAX_JSON_DEPTH)) {
      done(new FwError('BAD_REQUEST', tooDeepMessage(MAX_JSON_DEPTH)), undefined);
      return;
    }
    defaultJson(req, body as string, done);
  });

  app.get('/healthz', async () => ({ status: 'ok', version: deps.version }));

  app.get('/readyz', async (_req, reply) => {
    const r = await deps.readiness.report();
    deps.metrics.ready.set(r.ready ? 1 : 0);
    reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  for (const plugin of deps.routes ?? []) app.register(plugin);
  return app;
}
