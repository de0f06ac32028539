/**
 * The ONE mapping of a failed Redis call to an FwError that says whether retrying can help. Every store maps its
 * failures here, with its own code prefix (`WINDOW`, `LEASE`, `ALERT`, …): `<AREA>_REDIS_UNAVAILABLE` (retriable:
 * connection loss, timeouts, failover, a busy or resharding cluster, redirections exhausted) or `<AREA>_REDIS_REPLY`
 * (Redis refused the command: a script error, a wrong type, CROSSSLOT; a bug, not worth retrying).
 */
import { FwError, errorMessage } from '../core/errors.js';

/** Redis replies that mean "try again" (the server or cluster is busy or moving), as opposed to a bug. */
const RETRIABLE_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MOVED|ASK|MASTERDOWN|READONLY|OOM|NOREPLICAS)\b/;

/** Wraps any failure of a Redis call; an FwError (already mapped, or raised by our reply checks) passes through. */
/** The areas whose Redis failures have codes of their own in the catalog (`<area>_REDIS_UNAVAILABLE`, …). */
export type RedisArea = 'WINDOW' | 'LEASE' | 'ALERT' | 'OUTBOX' | 'DEPLOY' | 'GATE';

export function redisFailure(err: unknown, area: RedisArea, context: string): FwError {
  if (err instanceof FwError) return err;
  const msg = errorMessage(err);
  const isReply = err instanceof Error && err.name === 'ReplyError';
  if (isReply && !RETRIABLE_REPLY.test(msg)) {
    return new FwError(`${area}_REDIS_REPLY`, `${context}: Redis refused the command: ${msg}`, { cause: err });
  }
  // Connection loss, timeouts, "max retries per request", "Too many Cluster redirections" (ioredis gave up on
  // MOVED/ASK/TRYAGAIN/CLUSTERDOWN after maxRedirections), busy/failover replies: the same call can succeed later.
  return new FwError(`${area}_REDIS_UNAVAILABLE`, `${context}: ${msg}`, { cause: err });
}
