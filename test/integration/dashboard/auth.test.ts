/**
 * The dashboard's access rules against the real daemon: without the token the pages redirect to the login and
 * their JSON answers 401; the login sets an HttpOnly, SameSite=Strict session cookie (Secure behind TLS) and a
 * readable CSRF cookie; a state-changing request with the session cookie is refused without the CSRF header or
 * from another origin, and accepted with it; FW_DASHBOARD_PUBLIC opens the pages and their GET JSON only.
 */
import { describe, expect, it } from 'vitest';
import { startInProcessDaemon } from '../../support/daemon.js';

const TOKEN = 'dashboard-auth-token-0123456789';

async function login(url: string, headers: Record<string, string> = {}) {
  return fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: `token=${encodeURIComponent(TOKEN)}`,
  });
}

const cookieOf = (setCookies: string[], name: string) =>
  setCookies
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1);

const silence = {
  matchers: ['rule=paid-drop'],
  duration: '1h',
  createdBy: 'auth-test',
  comment: 'csrf check',
};

describe('dashboard access', () => {
  it('redirects pages and refuses JSON without the token; the login sets the cookies with their flags', async () => {
    const d = await startInProcessDaemon(TOKEN);
    const url = d.httpUrl;
    const page = await fetch(`${url}/`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/login');
    for (const path of ['/ui/api/overview', '/ui/api/rules/checkout-paid?span=6h', '/ui/api/v1/silences']) {
      const r = await fetch(`${url}${path}`);
      expect(r.status, path).toBe(401);
    }
    expect((await fetch(`${url}/login`)).status).toBe(200);

    const bad = await fetch(`${url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=nope',
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.getSetCookie()).toEqual([]);

    const ok = await login(url);
    expect(ok.status).toBe(303);
    const set = ok.headers.getSetCookie();
    const sessionCookie = set.find((c) => c.startsWith('fw_session='))!;
    expect(sessionCookie).toMatch(/; HttpOnly/);
    expect(sessionCookie).toMatch(/; SameSite=Strict/);
    expect(sessionCookie).not.toMatch(/; Secure/);
    const csrfCookie = set.find((c) => c.startsWith('fw_csrf='))!;
    expect(csrfCookie).not.toMatch(/HttpOnly/);
    expect(csrfCookie).toMatch(/; SameSite=Strict/);
    // Behind a TLS-terminating proxy the session cookie is Secure.
    const tls = (await login(url, { 'x-forwarded-proto': 'https' })).headers.getSetCookie();
    expect(tls.find((c) => c.startsWith('fw_session='))).toMatch(/; Secure/);

    const session = cookieOf(set, 'fw_session')!;
    const csrf = cookieOf(set, 'fw_csrf')!;
    const cookie = `fw_session=${session}; fw_csrf=${csrf}`;
    expect((await fetch(`${url}/`, { headers: { cookie } })).status).toBe(200);
    const ov = await fetch(`${url}/ui/api/overview`, { headers: { cookie } });
    expect(ov.status).toBe(200);
    expect(((await ov.json()) as { funnels: { name: string }[] }).funnels.map((f) => f.name)).toContain('checkout');
    // A forged session is not one.
    const forged = await fetch(`${url}/ui/api/overview`, {
      headers: { cookie: `fw_session=9999999999999.${'A'.repeat(43)}` },
    });
    expect(forged.status).toBe(401);

    // CSRF: the session cookie alone does not create a silence; nor does it from another origin.
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/v1/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie, ...headers },
        body: JSON.stringify(silence),
      });
    const noHeader = await post({});
    expect(noHeader.status).toBe(403);
    expect(((await noHeader.json()) as { error: string }).error).toBe('FORBIDDEN');
    expect((await post({ 'x-fw-csrf': 'wrong' })).status).toBe(403);
    expect((await post({ 'x-fw-csrf': csrf, origin: 'https://evil.example' })).status).toBe(403);
    const listed = await fetch(`${url}/v1/silences`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await listed.json()) as { silences: unknown[] }).silences).toEqual([]);
    const made = await post({ 'x-fw-csrf': csrf, origin: url });
    expect(made.status).toBe(201);
    const id = ((await made.json()) as { id: string }).id;
    const expire = await fetch(`${url}/v1/silences/${id}`, { method: 'DELETE', headers: { cookie } });
    expect(expire.status).toBe(403);
    const expired = await fetch(`${url}/v1/silences/${id}`, {
      method: 'DELETE',
      headers: { cookie, 'x-fw-csrf': csrf },
    });
    expect(expired.status).toBe(200);
  });

  it('FW_DASHBOARD_PUBLIC: pages and GET JSON without the token, but no writes', async () => {
    const d = await startInProcessDaemon(TOKEN, { FW_DASHBOARD_PUBLIC: 'true' });
    const url = d.httpUrl;
    expect((await fetch(`${url}/`, { redirect: 'manual' })).status).toBe(200);
    expect((await fetch(`${url}/ui/api/overview`)).status).toBe(200);
    expect((await fetch(`${url}/ui/api/v1/silences`)).status).toBe(200);
    // The API itself stays behind the token.
    expect((await fetch(`${url}/v1/silences`)).status).toBe(401);
    const write = await fetch(`${url}/v1/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(silence),
    });
    expect(write.status).toBe(401);
  });
});
