import { describe, it, expect } from 'vitest';
import { errorCodes } from 'fastify';
import { errorAnswer } from '../../../src/http/error-answer.js';
import { FwError } from '../../../src/core/errors.js';

describe('errorAnswer', () => {
  it('answers an FwError with its catalog status, code and message', () => {
    expect(errorAnswer(new FwError('BAD_MATCHER', 'matcher "x": no operator'), 'req-1')).toEqual({
      status: 400,
      body: { error: 'BAD_MATCHER', message: 'matcher "x": no operator' },
      serverSide: false,
    });
    expect(errorAnswer(new FwError('UNKNOWN_RULE', 'no rule "y"'), 'req-1').status).toBe(404);
    expect(errorAnswer(new FwError('SILENCE_REDIS', 'listing silences: Connection is closed.'), 'req-1')).toEqual({
      status: 503,
      body: { error: 'SILENCE_REDIS', message: 'listing silences: Connection is closed.' },
      serverSide: true,
      // A dependency away for now: the caller is told when to try again.
      retryAfterSeconds: 2,
    });
  });

  it('answers an internal FwError 500 with its code but not its message', () => {
    const bug = new FwError('WINDOW_BAD_REPLY', 'unexpected reply from applyBatch: [9,"secret"]');
    const a = errorAnswer(bug, 'req-7');
    expect(a).toMatchObject({ status: 500, body: { error: 'WINDOW_BAD_REPLY' }, serverSide: true });
    expect(a.body.message).not.toContain('secret');
    expect(a.body.message).toContain('req-7');
  });

  it('answers a bug 500 INTERNAL without its message', () => {
    const a = errorAnswer(new TypeError("Cannot read properties of undefined (reading 'token')"), 'req-2');
    expect(a).toEqual({
      status: 500,
      body: { error: 'INTERNAL', message: expect.stringContaining('req-2') },
      serverSide: true,
    });
    expect(a.body.message).not.toContain('token');
  });

  it('answers a foreign transient network error 503 UNAVAILABLE', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(errorAnswer(reset, 'req-3')).toMatchObject({
      status: 503,
      body: { error: 'UNAVAILABLE' },
      serverSide: true,
    });
  });

  it("answers fastify's own client errors with their 4xx under a catalog code", () => {
    expect(errorAnswer(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), 'r')).toEqual({
      status: 413,
      body: { error: 'PAYLOAD_TOO_LARGE', message: 'Request body is too large' },
      serverSide: false,
    });
    expect(errorAnswer(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE('text/csv'), 'r')).toMatchObject({
      status: 415,
      body: { error: 'UNSUPPORTED_MEDIA_TYPE' },
    });
    const bad = { status: 400, body: { error: 'BAD_REQUEST' }, serverSide: false };
    expect(errorAnswer(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), 'r')).toMatchObject(bad);
    expect(errorAnswer(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), 'r')).toMatchObject(bad);
    const validation = Object.assign(new Error('body must have required property "service"'), {
      statusCode: 400,
      validation: [{}],
    });
    expect(errorAnswer(validation, 'r')).toMatchObject(bad);
  });

  it('does not trust a statusCode on an error fastify did not raise', () => {
    const lib = Object.assign(new Error('upstream said 404'), { statusCode: 404 });
    expect(errorAnswer(lib, 'r')).toMatchObject({ status: 500, body: { error: 'INTERNAL' } });
  });
});
