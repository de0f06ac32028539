import { describe, it, expect } from 'vitest';
import kafkajs from 'kafkajs';
import {
  ERROR_CATALOG,
  FwError,
  asFwError,
  isErrorCode,
  isRetriable,
  type ErrorCode,
} from '../../../src/core/errors.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError } = kafkajs;

/** A Node system error as the net and dns modules raise them. */
function sysError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, syscall: 'connect' });
}

describe('the error catalog', () => {
  it('pairs retriable with 503, and every other code with a 4xx or 500; each has a one-line meaning', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
      expect(spec.retriable, code).toBe(spec.status === 503);
      expect([400, 401, 403, 404, 409, 413, 415, 500, 503], code).toContain(spec.status);
      expect(spec.description, code).toMatch(/^\S[^\n]*\.$/);
      expect(code).toMatch(/^([A-Z][A-Z0-9_]*|[a-z][a-z_]*)$/);
    }
  });

  it('gives FwError its retriable flag and HTTP status from the code', () => {
    const down = new FwError('DEPLOY_REDIS', 'storing deploy: connection closed', { cause: sysError('ECONNRESET') });
    expect(down).toMatchObject({ code: 'DEPLOY_REDIS', retriable: true, status: 503, name: 'FwError' });
    expect(down.cause).toBeInstanceOf(Error);
    expect(new FwError('BAD_MATCHER', 'x')).toMatchObject({ retriable: false, status: 400 });
    expect(new FwError('WINDOW_BAD_REPLY', 'x')).toMatchObject({ retriable: false, status: 500 });
  });

  it('knows its own codes', () => {
    expect(isErrorCode('SILENCE_REDIS')).toBe(true);
    expect(isErrorCode('SILENCE_REDIS_')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});

describe('the one rule for errors funnelwatch did not raise', () => {
  const cases: [string, unknown, ErrorCode][] = [
    ['a connection reset', sysError('ECONNRESET'), 'UNAVAILABLE'],
    ['a refused connection', sysError('ECONNREFUSED'), 'UNAVAILABLE'],
    ['a timeout', sysError('ETIMEDOUT'), 'UNAVAILABLE'],
    [
      'undici\'s "fetch failed" around a reset socket',
      new TypeError('fetch failed', { cause: sysError('ECONNRESET') }),
      'UNAVAILABLE',
    ],
    [
      'a kafkajs connection error (retriable by kafkajs)',
      new KafkaJSConnectionError('Connection error'),
      'UNAVAILABLE',
    ],
    [
      'kafkajs giving up after retries (it says not retriable)',
      new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('reset'), { retryCount: 5, retryTime: 1_000 }),
      'INTERNAL',
    ],
    ['a kafkajs non-retriable error', new KafkaJSNonRetriableError('bad'), 'INTERNAL'],
    ['an unknown host (stays wrong)', sysError('ENOTFOUND'), 'INTERNAL'],
    ['a TypeError (a bug)', new TypeError("Cannot read properties of undefined (reading 'x')"), 'INTERNAL'],
    ['a plain Error', new Error('something odd'), 'INTERNAL'],
    ['a thrown string', 'oops', 'INTERNAL'],
    ['undefined', undefined, 'INTERNAL'],
  ];
  for (const [what, err, code] of cases) {
    it(`makes ${what} ${code}`, () => {
      const e = asFwError(err);
      expect(e.code).toBe(code);
      expect(e.retriable).toBe(code === 'UNAVAILABLE');
      expect(e.cause).toBe(err);
      expect(isRetriable(err)).toBe(code === 'UNAVAILABLE');
    });
  }

  it('leaves an FwError as it is', () => {
    const e = new FwError('WINDOW_APPLY_CONFLICT', 'x');
    expect(asFwError(e)).toBe(e);
    expect(isRetriable(e)).toBe(true);
    expect(isRetriable(new FwError('RULES_INVALID', 'x'))).toBe(false);
  });

  it('keeps the message of a foreign error for the log', () => {
    expect(asFwError(new Error('boom')).message).toBe('boom');
    expect(asFwError('boom').message).toBe('boom');
  });

  it('follows a cause chain only so far (a cyclic chain ends)', () => {
    const a: Error & { cause?: unknown } = new Error('a');
    const b: Error & { cause?: unknown } = new Error('b', { cause: a });
    a.cause = b;
    expect(asFwError(a).code).toBe('INTERNAL');
  });
});
