/**
 * What the API answers for a failed request, in one place: an FwError answers its catalog status with its code;
 * fastify's own client errors (body too large, unsupported content type, broken JSON, schema validation) answer
 * their 4xx under a catalog code; anything else meets the one rule for foreign errors (asFwError): a transient
 * network failure is 503 UNAVAILABLE, the rest 500 INTERNAL. A 500 never shows its message, which may hold
 * internals (Redis replies, stack-ish text): the log has it, and the answer names the request to find it by.
 */
import { asFwError, errorMessage, type ErrorCode } from '../core/errors.js';

export interface ErrorAnswer {
  status: number;
  body: { error: ErrorCode; message: string };
  /** Worth an error log line: funnelwatch or a dependency failed, not the caller. */
  serverSide: boolean;
  /** For a 503 (a dependency away for now, e.g. a stalled Redis): seconds after which to try again (Retry-After). */
  retryAfterSeconds?: number;
}

/** Retry-After of every 503: short, since a 503 means a dependency that is away for now and comes back by itself. */
export const RETRY_AFTER_SECONDS = 2;

const FASTIFY_CODES: Readonly<Record<number, ErrorCode>> = {
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** The 4xx status of an error fastify raised about the request itself (its FST_ codes, or schema validation). */
function fastifyClientStatus(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; statusCode?: unknown; validation?: unknown };
  const status = e.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  const fromFastify = (typeof e.code === 'string' && e.code.startsWith('FST_')) || Array.isArray(e.validation);
  return fromFastify ? status : undefined;
}

export function errorAnswer(err: unknown, requestId: string): ErrorAnswer {
  const clientStatus = fastifyClientStatus(err);
  if (clientStatus !== undefined) {
    const error = FASTIFY_CODES[clientStatus] ?? 'BAD_REQUEST';
    return { status: clientStatus, body: { error, message: errorMessage(err) }, serverSide: false };
  }
  const e = asFwError(err);
  if (e.status === 500) {
    const message = `internal error; the daemon log has the details (request ${requestId})`;
    return { status: 500, body: { error: e.code, message }, serverSide: true };
  }
  return {
    status: e.status,
    body: { error: e.code, message: e.message },
    serverSide: e.status >= 500,
    ...(e.status === 503 ? { retryAfterSeconds: RETRY_AFTER_SECONDS } : {}),
  };
}
