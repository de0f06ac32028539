import { describe, expect, it } from 'vitest';
import {
  cookieAuth,
  cookieValue,
  csrfFor,
  newSession,
  sessionValid,
  SESSION_TTL_MS,
} from '../../../src/core/session-cookie.js';

const TOKEN = 'a-long-random-api-token';
const NOW = 1_800_000_000_000;

describe('dashboard session cookie', () => {
  it('is valid for its token until it expires, and for no other token', () => {
    const s = newSession(TOKEN, NOW);
    expect(sessionValid(TOKEN, s, NOW + SESSION_TTL_MS - 1)).toBe(true);
    expect(sessionValid(TOKEN, s, NOW + SESSION_TTL_MS)).toBe(false);
    expect(sessionValid('another-token', s, NOW)).toBe(false);
    // A later expiry with the old signature is not a session.
    const [, sig] = s.split('.');
    expect(sessionValid(TOKEN, `${NOW + 10 * SESSION_TTL_MS}.${sig}`, NOW)).toBe(false);
    expect(sessionValid('', s, NOW)).toBe(false);
  });

  it('lets reads through and asks writes for the CSRF header and a same-origin Origin', () => {
    const s = newSession(TOKEN, NOW);
    const cookie = `other=1; fw_session=${s}`;
    expect(cookieValue(cookie, 'fw_session')).toBe(s);
    const req = (method: string, h: Record<string, string> = {}) => ({
      method,
      headers: { cookie, host: 'fw.example:8080', ...h },
    });
    expect(cookieAuth(TOKEN, req('GET'), NOW).ok).toBe(true);
    expect(cookieAuth(TOKEN, req('POST'), NOW).ok).toBe(false);
    expect(cookieAuth(TOKEN, req('POST', { 'x-fw-csrf': csrfFor(TOKEN, s) }), NOW).ok).toBe(true);
    expect(cookieAuth(TOKEN, req('DELETE', { 'x-fw-csrf': csrfFor(TOKEN, `${s}x`) }), NOW).ok).toBe(false);
    const evil = req('POST', { 'x-fw-csrf': csrfFor(TOKEN, s), origin: 'https://evil.example' });
    expect(cookieAuth(TOKEN, evil, NOW)).toMatchObject({ ok: false, message: expect.stringMatching(/cross-origin/) });
    const same = req('POST', { 'x-fw-csrf': csrfFor(TOKEN, s), origin: 'https://fw.example:8080' });
    expect(cookieAuth(TOKEN, same, NOW).ok).toBe(true);
  });
});
