import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { cookieAuth, cookieValue, SESSION_COOKIE } from './session-cookie.js';

/**
 * An onRequest hook (so it runs before any body is read) that requires `Authorization: Bearer <token>` when a token
 * is configured. Compared in constant time (over hashes, so the lengths match too) so the token cannot be guessed
 * byte by byte. A request without the header may instead carry the web dashboard's session cookie (and, to change
 * state, its CSRF header: core/session-cookie.ts), so the dashboard's pages call the same API.
 */
export function bearerAuth(token: string, now: () => number = Date.now) {
  const matches = tokenMatcher(token);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (!token) return;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m && cookieValue(req.headers.cookie, SESSION_COOKIE) !== undefined) {
      const c = cookieAuth(token, req, now());
      if (c.ok) return;
      return reply.code(c.message.startsWith('no valid') ? 401 : 403).send({
        error: c.message.startsWith('no valid') ? 'UNAUTHORIZED' : 'FORBIDDEN',
        message: c.message,
      });
    }
    if (!m) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({
        error: 'UNAUTHORIZED',
        message: 'this endpoint needs an "Authorization: Bearer <token>" header (FW_INGEST_TOKEN)',
      });
    }
    if (!matches(m[1]!)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .send({ error: 'UNAUTHORIZED', message: 'the bearer token is not valid' });
    }
  };
}

/**
 * Whether a presented token is `token`, compared in constant time (over hashes, so the lengths match too). For the
 * one caller that cannot send a header: Flagger's webhooks carry only their metadata (http/gate-routes.ts).
 */
export function tokenMatcher(token: string): (candidate: string) => boolean {
  const want = createHash('sha256').update(token).digest();
  return (candidate) => timingSafeEqual(createHash('sha256').update(candidate.trim()).digest(), want);
}
