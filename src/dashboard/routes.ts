/**
 * The web dashboard, served by the daemon on its HTTP port (any replica: everything it shows is in Redis):
 *
 *   GET  /login, POST /login, POST /logout   a form that takes the API token and sets the session cookie
 *   GET  /                                   the page (one HTML shell; the client routes by #hash)
 *   GET  /assets/<file>                      the bundled client (built by scripts/build-dashboard.mjs), cached
 *   GET  /ui/api/overview                    funnels, rules, incidents, freshness
 *   GET  /ui/api/rules/:name?segment=d=v&span=6h|24h|7d   one series of a rule: chart points, spans, deploys
 *   GET  /ui/api/v1/<path>                   the read-only /v1 API (alerts, deploys, silences, gates) for the pages
 *   POST /ui/api/backtest {rule, yaml?, span} when the rule (or the pasted edit of its file) would have fired
 *
 * Authentication: the API token, as `Authorization: Bearer` or as the session cookie the login sets (HttpOnly,
 * SameSite=Strict, Secure over TLS; core/session-cookie.ts). With FW_DASHBOARD_PUBLIC=true the pages and their
 * GET JSON need neither (read-only use behind a company proxy). Without either, a page redirects to /login and a
 * JSON request answers 401. Writes (silences) go to the /v1 API itself with the cookie and the CSRF header
 * (core/bearer-auth.ts), so there is one silence API, not a second one for the browser.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import { tokenMatcher } from '../core/bearer-auth.js';
import {
  CSRF_COOKIE,
  csrfFor,
  newSession,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionValid,
  cookieValue,
  cookieAuth,
} from '../core/session-cookie.js';
import type { Metrics } from '../obs/metrics.js';
import type { RuleSet } from '../rules/rule-set.js';
import type { WindowStore } from '../windows/window-store.js';
import type { DeployStore } from '../deploys/deploy-store.js';
import type { SilenceStore } from '../notify/silence-store.js';
import type { AlertState } from '../model/alert-state.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { FwError } from '../core/errors.js';
import type { RuleExplanation } from '../engine/rule-explain.js';
import type { UnmatchedReport } from '../ingest/unmatched.js';
import { overview, type CounterSamples } from './overview.js';
import { rulePage, SPANS } from './rule-page.js';
import { loginPage, shellPage } from './html.js';

/** What the preview answers (replay/backtest.ts BacktestResult, the fields the page reads). */
export interface BacktestPreview {
  rule: string;
  from: number;
  to: number;
  incidents: { segment: string | null; firedAt: number; onset: number | null; resolvedAt: number | null }[];
  pages: number;
  pagesPerWeek: number;
}

export interface DashboardOptions {
  /** The API token (FW_INGEST_TOKEN); empty: no authentication, as for the API. */
  token: string;
  /** FW_DASHBOARD_PUBLIC: read-only pages without the token. */
  public: boolean;
  /** FW_DASHBOARD_COOKIE_SECURE. */
  cookieSecure: 'auto' | 'true' | 'false';
  clock: Clock;
  rules: () => RuleSet | undefined;
  windows: WindowStore;
  alerts: { load(): Promise<Map<string, AlertState>>; recentTransitions(limit: number): Promise<AlertTransition[]> };
  deploys: DeployStore;
  silences: SilenceStore;
  metrics: Metrics;
  /** The backtest preview (replay/backtest-preview.ts, passed in by the composition: replay is a later layer). */
  backtest?: (req: { rule: string; yaml?: string; sinceMs: number; now: number }) => Promise<BacktestPreview>;
  /** The rule's explain report (engine/rule-explain.ts), for the overview's "why" column of rules not ok. */
  explain?: (rule: string) => Promise<RuleExplanation | undefined>;
  /** Steps whose `where` filter turns away their events (ingest/unmatched.ts), for the overview. */
  unmatched?: (now: number) => readonly UnmatchedReport[];
  /** Where the built client is (default: dist/dashboard/assets, next to the compiled server or from the source). */
  assetsDir?: string;
}

const ASSETS = { 'app.js': 'text/javascript', 'app.css': 'text/css', 'uplot.css': 'text/css' } as const;
type AssetName = keyof typeof ASSETS;
// rules/<name>/explain: the why-quiet report (http/explain-routes.ts), shown on the rule page.
const PROXIED =
  /^\/ui\/api\/(v1\/(?:alerts(?:\/transitions)?|deploys|silences(?:\/[^/]+)?|gates(?:\/[^/]+\/evidence)?|rules\/[^/]+\/explain))$/;

/** The built client: beside the compiled server (dist/dashboard/assets) or, run from the source, in dist/. */
export function defaultAssetsDir(): string {
  const near = fileURLToPath(new URL('./assets/', import.meta.url));
  return existsSync(near) ? near : fileURLToPath(new URL('../../dist/dashboard/assets/', import.meta.url));
}

export function dashboardRoutes(o: DashboardOptions): FastifyPluginAsync {
  const dir = o.assetsDir ?? defaultAssetsDir();
  const assets = new Map<string, { body: Buffer; etag: string }>();
  for (const name of Object.keys(ASSETS)) {
    const p = `${dir}/${name}`;
    if (!existsSync(p)) continue;
    const body = readFileSync(p);
    assets.set(name, { body, etag: createHash('sha256').update(body).digest('base64url').slice(0, 16) });
  }
  const version = assets.get('app.js')?.etag ?? 'missing';
  const deadLetterSamples: CounterSamples = [];
  const matches = o.token ? tokenMatcher(o.token) : () => true;

  /** How the request is allowed in: with the token (header or session), as the public, or not at all. */
  const access = (req: FastifyRequest): 'token' | 'session' | 'public' | null => {
    if (!o.token) return 'token';
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (m && matches(m[1]!)) return 'token';
    if (sessionValid(o.token, cookieValue(req.headers.cookie, SESSION_COOKIE), o.clock.now())) return 'session';
    return o.public ? 'public' : null;
  };
  const secure = (req: FastifyRequest) =>
    o.cookieSecure === 'true' ||
    (o.cookieSecure === 'auto' && (req.protocol === 'https' || req.headers['x-forwarded-proto'] === 'https'));
  const cookie = (req: FastifyRequest, name: string, value: string, maxAgeS: number, httpOnly: boolean) =>
    `${name}=${value}; Path=/; Max-Age=${maxAgeS}; SameSite=Strict` +
    `${httpOnly ? '; HttpOnly' : ''}${secure(req) ? '; Secure' : ''}`;
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-frame-options', 'DENY')
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
      .send(body);

  return async (app) => {
    // The login form posts application/x-www-form-urlencoded (it works without the client's JavaScript).
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    app.get('/login', async (req, reply) => {
      if (access(req) === 'token' || access(req) === 'session') return reply.redirect('/', 303);
      return html(reply, 200, loginPage(null));
    });

    app.post('/login', { bodyLimit: 8 * 1024 }, async (req, reply) => {
      const t = (req.body as { token?: unknown } | null)?.token;
      if (!o.token) return reply.redirect('/', 303);
      if (typeof t !== 'string' || t.trim() === '' || !matches(t)) {
        return html(reply, 401, loginPage('That token is not valid. Use the API token (FW_INGEST_TOKEN).'));
      }
      const session = newSession(o.token, o.clock.now());
      const ttl = SESSION_TTL_MS / 1000;
      return reply
        .header('set-cookie', [
          cookie(req, SESSION_COOKIE, session, ttl, true),
          cookie(req, CSRF_COOKIE, csrfFor(o.token, session), ttl, false),
        ])
        .redirect('/', 303);
    });

    app.post('/logout', async (req, reply) => {
      return reply
        .header('set-cookie', [cookie(req, SESSION_COOKIE, '', 0, true), cookie(req, CSRF_COOKIE, '', 0, false)])
        .redirect('/login', 303);
    });

    app.get('/', async (req, reply) => {
      const a = access(req);
      if (a === null) return reply.redirect('/login', 302);
      if (!assets.has('app.js')) {
        return html(reply, 503, shellPage(version, a, 'The dashboard was not built: run `npm run build`.'));
      }
      return html(reply, 200, shellPage(version, a, null));
    });

    app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
      const a = assets.get(req.params.file);
      if (!a) return reply.code(404).send({ error: 'NOT_FOUND', message: `no asset ${req.params.file}` });
      // The shell asks for ?v=<content hash>: such a URL never changes meaning, so it may be cached for good.
      const pinned = (req.query as Record<string, string | undefined>).v === a.etag;
      reply
        .header('content-type', `${ASSETS[req.params.file as AssetName]}; charset=utf-8`)
        .header('etag', `"${a.etag}"`)
        .header('cache-control', pinned ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
      if (req.headers['if-none-match'] === `"${a.etag}"`) return reply.code(304).send();
      return reply.send(a.body);
    });

    // The JSON the pages read: same access as the pages, but 401 instead of a redirect.
    app.register(async (api) => {
      api.addHook('onRequest', async (req, reply) => {
        const a = access(req);
        if (a === 'session' && req.method !== 'GET') {
          const c = cookieAuth(o.token, req, o.clock.now());
          if (!c.ok) return reply.code(403).send({ error: 'FORBIDDEN', message: c.message });
        }
        if (a === null || (a === 'public' && req.method !== 'GET')) {
          return reply.code(401).send({
            error: 'UNAUTHORIZED',
            message: 'log in at /login with the API token, or send "Authorization: Bearer <token>"',
          });
        }
        reply.header('cache-control', 'no-store');
      });

      api.get('/ui/api/overview', async () => overview(o, o.clock.now(), deadLetterSamples));

      api.get<{ Params: { name: string } }>('/ui/api/rules/:name', async (req) => {
        const q = req.query as Record<string, string | undefined>;
        const span = q.span ?? '24h';
        if (!(span in SPANS)) {
          throw new FwError(
            'BAD_REQUEST',
            `span: one of ${Object.keys(SPANS).join(', ')}; got ${JSON.stringify(span)}`,
          );
        }
        return rulePage(o, req.params.name, q.segment ?? null, span as keyof typeof SPANS, q.to);
      });

      api.post('/ui/api/backtest', { bodyLimit: 256 * 1024 }, async (req) => {
        const b = (req.body ?? {}) as { rule?: unknown; yaml?: unknown; span?: unknown };
        if (!o.backtest) throw new FwError('NOT_FOUND', 'the backtest preview is not available on this server');
        if (typeof b.rule !== 'string' || b.rule === '') throw new FwError('BAD_REQUEST', 'rule: the rule to backtest');
        if (b.yaml !== undefined && typeof b.yaml !== 'string')
          throw new FwError('BAD_REQUEST', 'yaml: the edited rule file, as text');
        const span = typeof b.span === 'string' ? b.span : '24h';
        if (!(span in SPANS)) throw new FwError('BAD_REQUEST', `span: one of ${Object.keys(SPANS).join(', ')}`);
        return o.backtest({
          rule: b.rule,
          ...(typeof b.yaml === 'string' && b.yaml.trim() !== '' ? { yaml: b.yaml } : {}),
          sinceMs: SPANS[span as keyof typeof SPANS],
          now: o.clock.now(),
        });
      });

      // The read-only /v1 API for the pages (deploys, silences, gates, alerts), answered by its own routes.
      api.get('/ui/api/v1/*', async (req, reply) => {
        const path = req.url.split('?')[0]!;
        const m = PROXIED.exec(path);
        if (!m) return reply.code(404).send({ error: 'NOT_FOUND', message: `no route GET ${path}` });
        const qs = req.url.slice(path.length);
        const res = await app.inject({
          method: 'GET',
          url: `/${m[1]}${qs}`,
          headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        });
        return reply.code(res.statusCode).header('content-type', 'application/json').send(res.body);
      });
    });
  };
}
