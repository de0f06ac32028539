/**
 * The probe runner against local HTTP servers: a shop whose answers each test chooses, and an ingest endpoint that
 * records what the runner POSTs to /v1/events (checking the token, as the daemon does). Journeys are real files,
 * loaded as the runner loads them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { createLogger } from '../../../src/obs/logger.js';
import { HttpEventSink } from '../../../src/probes/event-sink.js';
import { JourneyStore } from '../../../src/probes/journey-store.js';
import { loadJourneyPaths, type JourneySet } from '../../../src/probes/load.js';
import { runProbeCommand } from '../../../src/probes/probe-command.js';
import type { FwEvent } from '../../../src/events/event.js';
import { ProbeRunner } from '../../../src/probes/runner.js';
import { eventually } from '../../support/env.js';

const TOKEN = 'ingest-t0ken-for-probes';
const PASSWORD = 'pw-Zq81-never-shown';
const CARD = '4242424242424242';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function listen(handler: Handler): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A shop: signup answers a session (and a location header), cart and pay check what earlier steps extracted. */
function shop(overrides: Partial<Record<string, Handler>> = {}): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const routes: Record<string, Handler> = {
    'POST /signup': (_req, body, res) => {
      const b = JSON.parse(body) as { email: string; password: string };
      if (b.password !== PASSWORD || !/^probe\+run-[a-z0-9]+-[0-9a-f]{10}@probes\.test$/.test(b.email)) {
        return json(res, 400, { error: 'bad signup' });
      }
      json(res, 201, { session: 'sess-77', user: { id: 'u-5' } }, { location: '/users/u-5' });
    },
    'POST /cart': (req, _body, res) => {
      if (req.headers.authorization !== 'Bearer sess-77') return json(res, 401, { error: 'no session' });
      json(res, 201, { cart_id: 'cart-9', items: [{ sku: 'probe-item' }] });
    },
    'POST /cart/cart-9/pay': (req, body, res) => {
      const b = JSON.parse(body) as { card: string; user: string };
      if (b.card !== CARD || b.user !== '/users/u-5') return json(res, 402, { error: 'declined' });
      json(res, 200, { status: 'paid', order_id: 'o-1' });
    },
    ...overrides,
  };
  return listen((req, body, res) => {
    const key = `${req.method} ${req.url}`;
    seen.push(key);
    const h = routes[key];
    if (h) h(req, body, res);
    else json(res, 404, { error: `no route ${key}` });
  }).then(({ url }) => ({ url, seen }));
}

/** The ingest side: records every event POSTed with the right token. */
async function ingest(): Promise<{ url: string; events: FwEvent[]; bodies: string[] }> {
  const events: FwEvent[] = [];
  const bodies: string[] = [];
  const { url } = await listen((req, body, res) => {
    if (req.url !== '/v1/events' || req.headers.authorization !== `Bearer ${TOKEN}`) return json(res, 401, {});
    bodies.push(body);
    const batch = JSON.parse(body) as FwEvent[];
    events.push(...batch);
    json(res, 200, { accepted: batch.length, rejected: 0, errors: [] });
  });
  return { url, events, bodies };
}

function journeyYaml(base: string, o: { name?: string; every?: string; payTimeout?: string; pay?: string } = {}) {
  return `name: ${o.name ?? 'checkout-card'}
funnel: checkout
every: ${o.every ?? '1m'}
location: eu-test-1
base_url: { production: "${base}" }
email_domain: probes.test
secrets:
  password: { env: PROBE_TEST_PASSWORD }
  card: { file: ${cardFile()} }
steps:
  - name: signup
    method: POST
    url: /signup
    body: { email: "{{ unique_email }}", password: "{{ secrets.password }}" }
    expect: { status: 201 }
    extract:
      session: { json: $.session }
      user_url: { header: location }
  - name: cart
    event: checkout_started
    method: POST
    url: /cart
    headers: { authorization: "Bearer {{ vars.session }}" }
    expect: { status: 201, body: { "$.items[0].sku": probe-item } }
    extract: { cart: { json: $.cart_id } }
  - name: pay
    event: payment_submitted
    method: POST
    url: ${o.pay ?? '/cart/{{ vars.cart }}/pay'}
    body: { card: "{{ secrets.card }}", user: "{{ vars.user_url }}" }
    expect: { status: 200, body: { "$.status": paid } }
    ${o.payTimeout ? `timeout: ${o.payTimeout}` : ''}
`;
}

let cardPath: string | undefined;
function cardFile(): string {
  if (!cardPath) {
    cardPath = join(mkdtempSync(join(tmpdir(), 'fw-probe-secret-')), 'card');
    writeFileSync(cardPath, `${CARD}\n`);
  }
  return cardPath;
}

function journeyDir(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-probes-'));
  writeFileSync(join(dir, 'checkout.yaml'), text);
  return dir;
}

async function load(dir: string): Promise<JourneySet> {
  const r = await loadJourneyPaths([dir], { environment: 'production' });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.set;
}

function captureLogger() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', pretty: false, destination: { write: (s: string) => lines.push(s) } });
  return { logger, lines };
}

const env = { PROBE_TEST_PASSWORD: PASSWORD };

async function runOnce(base: string, o: Parameters<typeof journeyYaml>[1] = {}) {
  const sink = await ingest();
  const { logger, lines } = captureLogger();
  const runner = new ProbeRunner({ sink: new HttpEventSink(sink.url, TOKEN), logger, env });
  onTestFinished(() => runner.stop());
  const [report] = await runner.runAll(await load(journeyDir(journeyYaml(base, o))));
  return { report: report!, sink, lines };
}

describe('probe runner against local HTTP servers', () => {
  it('a healthy journey passes; its funnel steps and its end reach ingest as synthetic events of one run', async () => {
    const s = await shop();
    const { report, sink } = await runOnce(s.url);
    expect(report.run.failure).toBeUndefined();
    expect(report.delivered).toBe(true);
    expect(s.seen).toEqual(['POST /signup', 'POST /cart', 'POST /cart/cart-9/pay']);
    expect(sink.events.map((e) => e.type)).toEqual(['checkout_started', 'payment_submitted', 'probe_run_passed']);
    for (const e of sink.events) {
      expect(e.entity).toBe(report.run.runId);
      expect(e.attrs).toMatchObject({ synthetic: 'true', probe: 'checkout-card', location: 'eu-test-1' });
    }
    expect(new Set(sink.events.map((e) => e.id)).size).toBe(3);
  });

  it('values extracted from one step (JSON path and header) reach the next steps', async () => {
    // The shop refuses the cart without the extracted session and the payment without the extracted header value.
    const s = await shop();
    const { report } = await runOnce(s.url);
    expect(report.run.steps.map((st) => [st.step, st.ok, st.status])).toEqual([
      ['signup', true, 201],
      ['cart', true, 201],
      ['pay', true, 200],
    ]);
  });

  it('a step answering 500 fails the run with its status, latency and a redacted excerpt', async () => {
    const s = await shop({
      'POST /cart/cart-9/pay': (_req, body, res) => json(res, 500, { error: 'stripe exploded', request: body }),
    });
    const { report, sink, lines } = await runOnce(s.url);
    const f = report.run.failure!;
    expect(f).toMatchObject({ step: 'pay', reason: 'status', status: 500 });
    expect(f.message).toMatch(/^pay: POST \/cart\/cart-9\/pay answered 500, expected 200$/);
    expect(f.excerpt).toContain('stripe exploded');
    expect(f.excerpt).toContain('[redacted]'); // the card the shop echoed
    expect(sink.events.map((e) => e.type)).toEqual(['checkout_started', 'probe_run_failed']);
    const end = sink.events.at(-1)!;
    expect(end.attrs).toMatchObject({ failed_step: 'pay', reason: 'status', status: '500', synthetic: 'true' });
    expect(Number(end.attrs.latency_ms)).toBeGreaterThanOrEqual(0);
    expect(end.attrs.excerpt).toContain('stripe exploded');
    expect(lines.join('')).toContain('journey checkout-card failed');
  });

  it('a wrong body fails the run with reason body, naming the field and what came back', async () => {
    const s = await shop({ 'POST /cart/cart-9/pay': (_req, _b, res) => json(res, 200, { status: 'declined' }) });
    const { report } = await runOnce(s.url);
    expect(report.run.failure).toMatchObject({ step: 'pay', reason: 'body', status: 200 });
    expect(report.run.failure!.message).toContain('$.status is "declined", expected "paid"');
  });

  it('a slow answer fails expect.latency (latency); a value missing to extract fails (extract)', async () => {
    const slow = await shop({
      'POST /cart/cart-9/pay': (_req, _b, res) => void setTimeout(() => json(res, 200, { status: 'paid' }), 1_300),
    });
    const dir = journeyDir(journeyYaml(slow.url).replace('body: { "$.status": paid } }', 'latency: 1s }'));
    const sink = await ingest();
    const { logger } = captureLogger();
    const runner = new ProbeRunner({ sink: new HttpEventSink(sink.url, TOKEN), logger, env });
    onTestFinished(() => runner.stop());
    const [late] = await runner.runAll(await load(dir));
    expect(late!.run.failure).toMatchObject({ step: 'pay', reason: 'latency', status: 200 });
    expect(late!.run.failure!.latencyMs).toBeGreaterThan(1_000);

    const noSession = await shop({ 'POST /signup': (_req, _b, res) => json(res, 201, { user: {} }) });
    const { report } = await runOnce(noSession.url);
    expect(report.run.failure).toMatchObject({ step: 'signup', reason: 'extract' });
    expect(report.run.failure!.message).toContain('nothing at $.session to extract as "session"');
    expect(noSession.seen).toEqual(['POST /signup']);
  });

  it('a step that does not answer in time fails with reason timeout', async () => {
    const s = await shop({ 'POST /cart/cart-9/pay': () => undefined }); // never answers
    const { report, sink } = await runOnce(s.url, { payTimeout: '1s' });
    expect(report.run.failure).toMatchObject({ step: 'pay', reason: 'timeout' });
    expect(report.run.failure!.message).toContain('no answer within 1000 ms');
    expect(sink.events.at(-1)!.attrs).toMatchObject({ failed_step: 'pay', reason: 'timeout', status: '' });
  });

  it('a refused connection fails with reason network', async () => {
    const s = await shop();
    const closed = await listen(() => undefined);
    await new Promise<void>((r) => closed.server.close(() => r()));
    const { report } = await runOnce(s.url, { pay: `${closed.url}/pay` });
    expect(report.run.failure).toMatchObject({ step: 'pay', reason: 'network' });
    expect(report.run.failure!.message).toContain('ECONNREFUSED');
  });

  it('secrets (env and file) never appear in emitted events or logs, even when the shop echoes them', async () => {
    const echo: Handler = (req, body, res) =>
      json(res, 503, { echoed_body: body, echoed_headers: req.headers, note: `${PASSWORD} ${CARD}` });
    for (const failAt of ['POST /signup', 'POST /cart/cart-9/pay']) {
      const s = await shop({ [failAt]: echo });
      const { report, sink, lines } = await runOnce(s.url);
      expect(report.run.failure!.reason).toBe('status');
      const emitted = sink.bodies.join('\n');
      const logged = lines.join('\n');
      for (const secret of [PASSWORD, CARD]) {
        expect(emitted).not.toContain(secret);
        expect(logged).not.toContain(secret);
      }
      expect(emitted).toContain('[redacted]');
    }
  });

  it('a missing secret fails the run before any request, naming where it was looked for', async () => {
    const s = await shop();
    const sink = await ingest();
    const { logger } = captureLogger();
    const runner = new ProbeRunner({ sink: new HttpEventSink(sink.url, TOKEN), logger, env: {} });
    onTestFinished(() => runner.stop());
    const [r] = await runner.runAll(await load(journeyDir(journeyYaml(s.url))));
    expect(r!.run.failure).toMatchObject({ reason: 'secret', step: 'signup' });
    expect(r!.run.failure!.message).toContain('environment variable PROBE_TEST_PASSWORD');
    expect(s.seen).toEqual([]);
  });
});

describe('delivery to the daemon', () => {
  it('a daemon briefly answering 503 gets the batch again; a refused token is reported, not retried', async () => {
    const s = await shop();
    const set = await load(journeyDir(journeyYaml(s.url)));
    const answers = [503, 200];
    const requests: string[] = [];
    const { url } = await listen((req, body, res) => {
      requests.push(String(req.headers.authorization));
      const status = req.headers.authorization === `Bearer ${TOKEN}` ? (answers.shift() ?? 200) : 401;
      const n = (JSON.parse(body) as unknown[]).length;
      json(res, status, status === 200 ? { accepted: n, rejected: 0, errors: [] } : { message: 'no' });
    });
    const { logger, lines } = captureLogger();
    const fast = { attempts: 3, policy: { baseMs: 10, capMs: 20, jitter: 'none' as const } };
    const good = new ProbeRunner({ sink: new HttpEventSink(url, TOKEN, 5_000, fast), logger, env });
    onTestFinished(() => good.stop());
    const [ok] = await good.runAll(set);
    expect(ok!.delivered).toBe(true);
    expect(requests).toHaveLength(2);

    const wrong = new ProbeRunner({ sink: new HttpEventSink(url, 'wrong-token', 5_000, fast), logger, env });
    onTestFinished(() => wrong.stop());
    const [refused] = await wrong.runAll(set);
    expect(refused!.delivered).toBe(false);
    expect(refused!.deliveryError).toMatch(/\/v1\/events answered 401/);
    expect(requests).toHaveLength(3);
    expect(lines.join('')).toContain('probe events not delivered');
    expect(lines.join('')).not.toContain('wrong-token');
  });
});

describe('scheduled runs (time from a ManualClock)', () => {
  it('never starts a second run of a journey while one is going; the next starts after it ended', async () => {
    const hanging: ServerResponse[] = [];
    const s = await shop({ 'POST /cart/cart-9/pay': (_req, _b, res) => void hanging.push(res) });
    const sink = await ingest();
    const clock = new ManualClock(Date.now());
    const { logger } = captureLogger();
    const runner = new ProbeRunner({ sink: new HttpEventSink(sink.url, TOKEN), logger, env, clock, random: () => 0 });
    onTestFinished(() => runner.stop());
    runner.use(await load(journeyDir(journeyYaml(s.url, { every: '10s' }))));

    expect(runner.tick()).toEqual(['checkout-card']);
    await eventually(() => (hanging.length === 1 ? true : undefined));
    clock.advance(25_000); // two more slots pass while the payment hangs
    expect(runner.tick()).toEqual([]);
    expect(runner.isRunning('checkout-card')).toBe(true);

    json(hanging[0]!, 200, { status: 'paid' });
    await eventually(() => (sink.events.some((e) => e.type === 'probe_run_passed') ? true : undefined));
    await eventually(() => (runner.isRunning('checkout-card') ? undefined : true));
    expect(runner.tick()).toEqual([]); // the slots it overran are skipped, not made up for
    clock.advance(10_000);
    expect(runner.tick()).toEqual(['checkout-card']);
    await eventually(() => (hanging.length === 2 ? true : undefined));
    json(hanging[1]!, 200, { status: 'paid' });
    await eventually(() => (sink.events.filter((e) => e.type === 'probe_run_passed').length === 2 ? true : undefined));
    expect(s.seen.filter((r) => r === 'POST /signup')).toHaveLength(2);
  });
});

describe('funnelwatch probe', () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, deps: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };

  it('--once exits 0 when all passed, 1 when one failed, 2 on an invalid file; --check only checks', async () => {
    const s = await shop();
    const sink = await ingest();
    process.env.PROBE_TEST_PASSWORD = PASSWORD;
    onTestFinished(() => {
      delete process.env.PROBE_TEST_PASSWORD;
    });
    const { logger } = captureLogger();
    const run = async (dir: string) => {
      const o = io();
      const code = await runProbeCommand(
        { dir, once: true, environment: 'production', url: sink.url, token: TOKEN },
        { logger, ...o.deps, stopSignal: new Promise(() => undefined) },
      );
      return { code, ...o };
    };
    const ok = await run(journeyDir(journeyYaml(s.url)));
    expect(ok.code).toBe(0);
    expect(ok.out.at(-1)).toBe('1 of 1 journeys passed');

    const failing = await run(journeyDir(journeyYaml(s.url, { pay: '/nowhere' })));
    expect(failing.code).toBe(1);
    expect(failing.out[0]).toMatch(
      /^FAIL checkout-card \(\d+ ms, run run-[a-z0-9]+-[0-9a-f]+\): pay: POST \/nowhere answered 404/,
    );

    const bad = await run(journeyDir(journeyYaml(s.url).replace('every: 1m', 'every: often')));
    expect(bad.code).toBe(2);
    expect(bad.err).toEqual([expect.stringMatching(/checkout\.yaml:3:8: every: /)]);

    const check = async (dir: string) => {
      const o = io();
      const code = await runProbeCommand(
        { dir, once: false, check: true, environment: 'production', url: sink.url },
        { logger, ...o.deps, stopSignal: new Promise(() => undefined) },
      );
      return { code, ...o };
    };
    expect(await check(journeyDir(journeyYaml(s.url)))).toMatchObject({
      code: 0,
      out: ['ok: 1 journey (environment production)'],
    });
    const checked = await check(journeyDir(journeyYaml(s.url).replace('every: 1m', 'every: often')));
    expect(checked.code).toBe(1);
    expect(checked.out).toEqual([expect.stringMatching(/checkout\.yaml:3:8: every: /), '1 problem']);
  });

  it('the CLI (dist/main.js, needs npm run build) runs --once with the token from FUNNELWATCH_TOKEN', async () => {
    const s = await shop({ 'POST /cart/cart-9/pay': (_req, _b, res) => json(res, 502, { error: 'bad gateway' }) });
    const sink = await ingest();
    const dir = journeyDir(journeyYaml(s.url));
    const r = await promisify(execFile)(
      process.execPath,
      ['dist/main.js', 'probe', '--once', '--dir', dir, '--url', sink.url, '--location', 'ci'],
      { env: { PATH: process.env.PATH ?? '', FUNNELWATCH_TOKEN: TOKEN, PROBE_TEST_PASSWORD: PASSWORD } },
    ).then(
      (x) => ({ code: 0, ...x }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL checkout-card .*: pay: POST \/cart\/cart-9\/pay answered 502, expected 200\n/);
    expect(r.stdout).toContain('0 of 1 journeys passed');
    expect(sink.events.at(-1)!.attrs).toMatchObject({ location: 'ci', failed_step: 'pay', status: '502' });
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('a broken journey file is reported path:line:col and the last good set keeps running', async () => {
    const s = await shop();
    const sink = await ingest();
    const dir = journeyDir(journeyYaml(s.url, { every: '1s' }));
    const { logger, lines } = captureLogger();
    const store = new JourneyStore({ dir, logger, loadOptions: { environment: 'production' }, debounceMs: 50 });
    const runner = new ProbeRunner({ sink: new HttpEventSink(sink.url, TOKEN), logger, env });
    onTestFinished(async () => {
      await store.close();
      await runner.stop();
    });
    store.onReload((r) => r.ok && r.changed && runner.use(r.set));
    expect((await store.reload()).ok).toBe(true);
    store.watch();
    runner.start();
    await eventually(() => (sink.events.some((e) => e.type === 'probe_run_passed') ? true : undefined));

    writeFileSync(
      join(dir, 'checkout.yaml'),
      journeyYaml(s.url, { every: '1s' }).replace('    method: POST\n', '    methd: POST\n'),
    );
    const bad = await store.reload();
    expect(bad.ok).toBe(false);
    expect(store.lastErrors.map((p) => `${p.file}:${p.line}:${p.col}`)).toEqual([`${join(dir, 'checkout.yaml')}:12:5`]);
    expect(lines.join('')).toContain('journeys rejected; keeping the previous set');
    expect(store.current!.journeys[0]!.name).toBe('checkout-card');

    const passedBefore = sink.events.filter((e) => e.type === 'probe_run_passed').length;
    await eventually(() =>
      sink.events.filter((e) => e.type === 'probe_run_passed').length > passedBefore ? true : undefined,
    );
  });
});
