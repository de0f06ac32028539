/**
 * The attacks, each a black-box probe of one way a monitor can lose data, hang, leak or be written to by a
 * stranger. Each returns what it measured; the runner adds crashes (the daemon gone or unreachable after it) and
 * hangs (any request, or the /healthz probe that runs throughout, taking longer than HANG_MS).
 */
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KeyLayout } from '../../src/windows/key-layout.js';
import { HANG_MS, MIN, sleep, within, type Reply, type World } from './world.js';

export interface Finding {
  /** What the attack saw, in a few words. */
  detail: string;
  /** Did the daemon behave as a monitor on-call can trust? */
  ok: boolean;
  hangs?: number;
  acceptedThenDropped?: number;
  lostDeliveries?: number;
  secretsLeaked?: number;
  unauthorizedWrites?: number;
}

export interface Attack {
  name: string;
  /** Fast attacks run in `npm test` too; slow ones (faults, restarts, big files) only in `npm run attack`. */
  fast: boolean;
  run(w: World): Promise<Finding>;
}

const run = promisify(execFile);

function hangs(...replies: Reply[]): number {
  return replies.filter((r) => r.hung).length;
}

/** A write without a valid token must answer 401 and change nothing. */
function unauthorized(name: string, path: string, method: string, body: unknown, auth: string | false): Attack {
  return {
    name,
    fast: true,
    async run(w) {
      const r = await w.request(path, { method, body: body === undefined ? undefined : JSON.stringify(body), auth });
      const wrote = r.status >= 200 && r.status < 300;
      return { ok: r.status === 401, detail: `HTTP ${r.status}`, unauthorizedWrites: wrote ? 1 : 0, hangs: hangs(r) };
    },
  };
}

/** Sends raw bytes on a socket and reports the status line the server answers with (or none within the time). */
function rawRequest(
  url: string,
  head: Record<string, string>,
  write: (req: ReturnType<typeof httpRequest>) => void,
  method = 'POST',
  path = '/v1/events',
): Promise<{ status: number; ms: number; hung: boolean }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: head });
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ status: 0, ms: performance.now() - t0, hung: true });
    }, HANG_MS);
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, hung: false });
      req.destroy();
    });
    req.on('error', () => {
      clearTimeout(timer);
      resolve({ status: -1, ms: performance.now() - t0, hung: false });
    });
    write(req);
  });
}

/** Accepted events of the attack funnel must all be applied (or counted as duplicates), none dropped later. */
async function appliedAfter(w: World, before: number, accepted: number): Promise<number> {
  let applied = 0;
  await within(20_000, async () => {
    applied = (await w.metric('fw_events_applied_total', 'funnel="atk"')) - before;
    return applied >= accepted;
  });
  return applied;
}

function silence(matchers: unknown, duration = '1h'): string {
  return JSON.stringify({ matchers, duration, comment: 'attack suite', createdBy: 'attack' });
}

async function provokeAndWait(w: World, ticks = 2): Promise<Finding> {
  const funnel = await w.provokeAlert();
  // The events first go through Kafka into Redis (a consumer that met the fault may be retrying a batch); from
  // the moment they are applied, two evaluation ticks (5 s apart here) plus the webhook's round trip.
  const applied = await within(
    60_000,
    async () => (await w.metric('fw_events_applied_total', `funnel="${funnel}"`)) > 0,
  );
  const ok = await within(ticks * 5_000 + 5_000, () => w.firingFor(funnel).length > 0);
  return {
    ok,
    detail: ok
      ? `alert of funnel ${funnel} delivered`
      : `no delivery for funnel ${funnel} within ${ticks} ticks of its events being applied (applied: ${applied})`,
    lostDeliveries: ok ? 0 : 1,
  };
}

/** A daemon that was expected to refuse to start: it must exit by itself with an error, not hang or be killed. */
function refused(exit: number | string, output: string): Finding {
  const last = output.trim().split('\n').pop()?.slice(0, 160) ?? '';
  if (typeof exit === 'number' && exit !== 0) return { ok: true, detail: `refused to start (exit ${exit}): ${last}` };
  return { ok: false, detail: `neither started nor refused in time (ended by ${exit})` };
}

export const ATTACKS: Attack[] = [
  // --- who may write -------------------------------------------------------------------------------------------
  unauthorized('events without a token', '/v1/events', 'POST', [{ type: 'atk_a', ts: Date.now(), entity: 'x' }], false),
  unauthorized(
    'events with a wrong token',
    '/v1/events',
    'POST',
    [{ type: 'atk_a', ts: Date.now(), entity: 'x' }],
    'nope',
  ),
  unauthorized('events with a token of the right length', '/v1/events', 'POST', [], 'x'.repeat(40)),
  unauthorized(
    'silence without a token',
    '/v1/silences',
    'POST',
    { matchers: [{ name: 'rule', value: 'atk-drop' }], duration: '1h' },
    false,
  ),
  unauthorized(
    'deploy marker without a token',
    '/v1/deploys',
    'POST',
    { service: 's', version: '1', environment: 'production' },
    false,
  ),
  {
    name: 'silence deleted without a token',
    fast: true,
    async run(w) {
      const made = await w.request('/v1/silences', {
        method: 'POST',
        body: silence([{ name: 'rule', value: 'atk-never' }], '5m'),
      });
      const id = (JSON.parse(made.text || '{}') as { id?: string }).id;
      if (!id)
        return {
          ok: false,
          detail: `could not create a silence to delete: HTTP ${made.status} ${made.text.slice(0, 120)}`,
        };
      const r = await w.request(`/v1/silences/${id}`, { method: 'DELETE', auth: false });
      await w.request(`/v1/silences/${id}`, { method: 'DELETE' });
      return {
        ok: r.status === 401,
        detail: `HTTP ${r.status}`,
        unauthorizedWrites: r.status >= 200 && r.status < 300 ? 1 : 0,
      };
    },
  },
  {
    name: 'a body without a token is refused before it is read',
    fast: true,
    async run(w) {
      // Announce 1 MB (under the body limit), send 1 KB, then wait: a server that checks the token before it reads
      // the body answers 401 at once; one that reads first waits for the rest, which never comes.
      const r = await rawRequest(
        w.daemon.url,
        { 'content-type': 'application/json', 'content-length': String(2 ** 20) },
        (req) => {
          req.write(Buffer.alloc(1024, 0x20));
        },
      );
      return {
        ok: r.status === 401,
        detail: r.hung ? 'no answer: the server waited for the body' : `HTTP ${r.status} after ${Math.round(r.ms)} ms`,
        hangs: r.hung ? 1 : 0,
      };
    },
  },
  {
    name: 'a daemon on 0.0.0.0 without a token refuses to start',
    fast: false,
    async run(w) {
      const d = await w.spawn({ FW_HTTP_HOST: '0.0.0.0', FW_INGEST_TOKEN: '', FW_INSTANCE_ID: 'attack-open' }, 20_000);
      if (!d.url) return refused(await d.exited, d.output());
      const r = await w.request('/v1/events', { method: 'POST', auth: false, body: '[]' }, d.url);
      await w.stopDaemon(d);
      return {
        ok: false,
        detail: `started open; an unauthenticated POST answered ${r.status}`,
        unauthorizedWrites: r.status < 300 ? 1 : 0,
      };
    },
  },
  // --- secrets ---------------------------------------------------------------------------------------------------
  {
    name: '`funnelwatch config` hides the token',
    fast: true,
    async run(w) {
      const { stdout, stderr } = await run(process.execPath, ['dist/main.js', 'config'], { env: w.env({}) }).catch(
        (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
      );
      const leaked = `${stdout}${stderr}`.includes(w.token);
      return {
        ok: !leaked,
        detail: leaked ? 'printed FW_INGEST_TOKEN in plain text' : 'token hidden',
        secretsLeaked: leaked ? 1 : 0,
      };
    },
  },
  {
    name: 'health, readiness and metrics do not show the token',
    fast: true,
    async run(w) {
      const rs = await Promise.all(['/healthz', '/readyz', '/metrics'].map((p) => w.request(p, { auth: false })));
      const leaked = rs.filter((r) => r.text.includes(w.token)).length;
      return { ok: leaked === 0, detail: `${leaked} of 3 pages show it`, secretsLeaked: leaked, hangs: hangs(...rs) };
    },
  },
  {
    name: 'the log does not show the token',
    fast: true,
    async run(w) {
      await w.request('/v1/events', { method: 'POST', body: '{not json', auth: `${w.token}x` });
      const leaked = w.daemon.output().includes(w.token) ? 1 : 0;
      return { ok: leaked === 0, detail: leaked ? 'token in the log' : 'not in the log', secretsLeaked: leaked };
    },
  },
  // --- ingest says exactly what it kept -------------------------------------------------------------------------
  {
    name: 'an oversized event inside an accepted array',
    fast: true,
    async run(w) {
      const before = await w.metric('fw_events_applied_total', 'funnel="atk"');
      const ts = Date.now() - 60_000;
      const tag = `big-${Math.random().toString(36).slice(2, 8)}`;
      const events = [
        { id: `${tag}-1`, type: 'atk_a', ts, entity: `${tag}-1`, attrs: { platform: 'web' } },
        { id: `${tag}-2`, type: 'atk_a', ts, entity: `${tag}-2`, attrs: { platform: 'web', pad: 'x'.repeat(200_000) } },
        { id: `${tag}-3`, type: 'atk_a', ts, entity: `${tag}-3`, attrs: { platform: 'web' } },
      ];
      const r = await w.request('/v1/events', { method: 'POST', body: JSON.stringify(events) });
      const accepted = r.status < 300 ? ((JSON.parse(r.text) as { accepted?: number }).accepted ?? 0) : 0;
      const applied = await appliedAfter(w, before, accepted);
      const dropped = Math.max(0, accepted - applied);
      return {
        ok: dropped === 0,
        detail: `HTTP ${r.status}, accepted ${accepted}, applied ${applied}`,
        acceptedThenDropped: dropped,
        hangs: hangs(r),
      };
    },
  },
  {
    name: 'events from 1970 and from the future',
    fast: true,
    async run(w) {
      const before = await w.metric('fw_events_applied_total', 'funnel="atk"');
      const events = [
        { id: 'old-1', type: 'atk_a', ts: 1_000, entity: 'old-1' },
        { id: 'fut-1', type: 'atk_a', ts: Date.now() + 30 * 24 * 3_600_000, entity: 'fut-1' },
      ];
      const r = await w.request('/v1/events', { method: 'POST', body: JSON.stringify(events) });
      const accepted = r.status < 300 ? ((JSON.parse(r.text) as { accepted?: number }).accepted ?? 0) : 0;
      const applied = await appliedAfter(w, before, accepted);
      const dropped = Math.max(0, accepted - applied);
      return {
        ok: dropped === 0,
        detail: `HTTP ${r.status}, accepted ${accepted}, applied ${applied}`,
        acceptedThenDropped: dropped,
      };
    },
  },
  {
    name: 'fuzzed bodies answer 4xx, never 5xx',
    fast: true,
    async run(w) {
      let seed = 7;
      const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
      const shapes: (() => string)[] = [
        () =>
          Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256))).toString(
            'latin1',
          ),
        () => JSON.stringify([{ type: rnd(), ts: 'x', entity: {} }]).slice(0, Math.floor(rnd() * 40)),
        () => JSON.stringify({ type: 'atk_a', ts: rnd() > 0.5 ? 'yesterday' : -1, entity: null }),
        () => JSON.stringify([[[{ type: ['atk_a'] }]]]),
        () => `{"type":"atk_a","ts":${Date.now()},"entity":"e","attrs":{"__proto__":{"x":1}}}`,
        () => '\u0000'.repeat(64),
      ];
      let fiveXX = 0;
      let n = 0;
      let hung = 0;
      for (let i = 0; i < 120; i++) {
        const r = await w.request('/v1/events', { method: 'POST', body: shapes[i % shapes.length]!() });
        n++;
        if (r.status >= 500) fiveXX++;
        if (r.hung) hung++;
      }
      return { ok: fiveXX === 0 && hung === 0, detail: `${n} bodies, ${fiveXX} answered 5xx`, hangs: hung };
    },
  },
  {
    name: 'JSON nested 10,000 deep',
    fast: true,
    async run(w) {
      const r = await w.request('/v1/events', { method: 'POST', body: `${'['.repeat(10_000)}${']'.repeat(10_000)}` });
      return { ok: r.status >= 400 && r.status < 500, detail: `HTTP ${r.status}`, hangs: hangs(r) };
    },
  },
  {
    name: 'a 100 KB header',
    fast: true,
    async run(w) {
      const r = await w.request('/v1/events', {
        method: 'POST',
        body: '[]',
        headers: { 'x-junk': 'x'.repeat(100_000) },
      });
      return {
        ok: r.status === 431 || r.status === 400 || r.status === 413,
        detail: `HTTP ${r.status}`,
        hangs: hangs(r),
      };
    },
  },
  {
    name: 'slow bodies do not stall other requests',
    fast: false,
    async run(w) {
      const u = new URL(w.daemon.url);
      const sockets = Array.from({ length: 20 }, () => {
        const req = httpRequest({
          host: u.hostname,
          port: u.port,
          method: 'POST',
          path: '/v1/events',
          headers: {
            authorization: `Bearer ${w.token}`,
            'content-type': 'application/json',
            'content-length': '100000',
          },
        });
        req.on('error', () => undefined);
        req.write('[');
        return req;
      });
      let worst = 0;
      let hung = 0;
      for (let i = 0; i < 8; i++) {
        for (const s of sockets) if (!s.destroyed) s.write(' ');
        const r = await w.request('/healthz', { auth: false });
        worst = Math.max(worst, r.ms);
        if (r.hung) hung++;
        await sleep(1_000);
      }
      for (const s of sockets) s.destroy();
      return { ok: hung === 0, detail: `/healthz worst ${Math.round(worst)} ms with 20 slow bodies open`, hangs: hung };
    },
  },
  // --- silences ----------------------------------------------------------------------------------------------------
  {
    // A silence is matched against the labels of every alert that wants to notify; a segment value comes from the
    // events, so whoever sends events chooses the text a silence's regular expression runs on. With a
    // backtracking engine `(a+)+$` against 30 a's and a "!" takes seconds; RE2 semantics take microseconds.
    name: 'a catastrophic-backtracking silence regex meets a crafted segment value',
    fast: false,
    async run(w) {
      const made = await w.request('/v1/silences', {
        method: 'POST',
        body: silence([{ name: 'platform', value: '(a+)+$', op: '=~' }], '10m'),
      });
      const id = (JSON.parse(made.text || '{}') as { id?: string }).id;
      const value = `${'a'.repeat(30)}!`;
      const funnel = await w.provokeAlert(value);
      let worst = 0;
      let hung = 0;
      for (let i = 0; i < 30 && w.firingFor(funnel).length === 0; i++) {
        const r = await w.request('/healthz', { auth: false });
        worst = Math.max(worst, r.ms);
        if (r.hung) hung++;
        await sleep(500);
      }
      const delivered = w.firingFor(funnel).length > 0;
      if (id) await w.request(`/v1/silences/${id}`, { method: 'DELETE' });
      return {
        ok: hung === 0 && worst < 1_000 && delivered,
        detail: `silence: HTTP ${made.status}; /healthz worst ${Math.round(worst)} ms; alert delivered: ${delivered}`,
        hangs: hung + hangs(made),
        lostDeliveries: delivered ? 0 : 1,
      };
    },
  },
  {
    name: 'more than 400 silences',
    fast: false,
    async run(w) {
      const ids: string[] = [];
      let refusedAt = 0;
      for (let i = 0; i < 405; i++) {
        const r = await w.request('/v1/silences', {
          method: 'POST',
          body: silence([{ name: 'rule', value: `atk-none-${i}` }], '10m'),
        });
        if (r.status >= 400) {
          refusedAt = i + 1;
          break;
        }
        const id = (JSON.parse(r.text) as { id?: string }).id;
        if (id) ids.push(id);
      }
      for (const id of ids) await w.request(`/v1/silences/${id}`, { method: 'DELETE' });
      return {
        ok: refusedAt > 0 && refusedAt <= 401,
        detail: refusedAt ? `refused at #${refusedAt}` : 'all 405 stored',
      };
    },
  },
  {
    name: 'a silence of a million years',
    fast: true,
    async run(w) {
      const before = await w.request('/v1/silences');
      const r = await w.request('/v1/silences', {
        method: 'POST',
        body: silence([{ name: 'rule', value: 'atk-forever' }], '52000000w'),
      });
      const after = await w.request('/v1/silences');
      const stored = after.text.includes('atk-forever');
      const id = (JSON.parse(r.text || '{}') as { id?: string }).id;
      if (id) await w.request(`/v1/silences/${id}`, { method: 'DELETE' });
      return {
        ok: r.status >= 400 && r.status < 500 && !stored,
        detail: `HTTP ${r.status}; stored: ${stored}`,
        hangs: hangs(before, r, after),
      };
    },
  },
  {
    name: '"match everything" spelled another way',
    fast: true,
    async run(w) {
      const spellings = ['(.*)', '.{0,}', '^.*$', '[\\s\\S]*', '.*.*', '(|.+)'];
      const accepted: string[] = [];
      for (const s of spellings) {
        const r = await w.request('/v1/silences', {
          method: 'POST',
          body: silence([{ name: 'rule', value: s, op: '=~' }], '5m'),
        });
        if (r.status < 300) {
          accepted.push(s);
          const id = (JSON.parse(r.text) as { id?: string }).id;
          if (id) await w.request(`/v1/silences/${id}`, { method: 'DELETE' });
        }
      }
      return { ok: accepted.length === 0, detail: accepted.length ? `accepted ${accepted.join(' ')}` : 'all refused' };
    },
  },
  // --- deploy markers --------------------------------------------------------------------------------------------
  {
    name: 'deploy markers that differ only in case',
    fast: true,
    async run(w) {
      const ts = new Date(Date.now() - 60_000).toISOString();
      const svc = `Atk-Service-${Math.random().toString(36).slice(2, 6)}`;
      const a = await w.request('/v1/deploys', {
        method: 'POST',
        body: JSON.stringify({ service: svc, version: 'V2.4.0', environment: 'production', ts }),
      });
      const b = await w.request('/v1/deploys', {
        method: 'POST',
        body: JSON.stringify({ service: svc.toLowerCase(), version: 'v2.4.0', environment: 'Production', ts }),
      });
      const list = await w.request(`/v1/deploys?service=${encodeURIComponent(svc.toLowerCase())}`);
      const count = (list.text.match(/"version"/g) ?? []).length;
      return {
        ok: count <= 1,
        detail: `HTTP ${a.status}/${b.status}; ${count} markers listed`,
        hangs: hangs(a, b, list),
      };
    },
  },
  // --- rule files ------------------------------------------------------------------------------------------------
  {
    name: 'a rule file of several MB does not stall the daemon',
    fast: false,
    async run(w) {
      const file = join(w.rulesDir, 'zz-huge.yaml');
      const rules = Array.from(
        { length: 12_000 },
        (_, i) =>
          `  - name: huge-${i}\n    metric: { ratio_conversion: { from: a, to: b } }\n    drop: 20%\n` +
          `    notify: [hook]\n    description: ${'x'.repeat(200)}\n`,
      );
      writeFileSync(file, `rules:\n${rules.join('')}`);
      const mb = Math.round(rules.join('').length / 2 ** 20);
      w.daemon.child.proc.kill('SIGHUP');
      let worst = 0;
      let hung = 0;
      for (let i = 0; i < 30; i++) {
        const r = await w.request('/healthz', { auth: false });
        worst = Math.max(worst, r.ms);
        if (r.hung) hung++;
        await sleep(200);
      }
      rmSync(file);
      w.daemon.child.proc.kill('SIGHUP');
      await sleep(2_000);
      return {
        // The daemon must keep answering while it parses (a worker thread): 1 s allows for a loaded machine.
        ok: hung === 0 && worst < 1_000,
        detail: `/healthz worst ${Math.round(worst)} ms while a ${mb} MB file loads`,
        hangs: hung,
      };
    },
  },
  // --- identity, Redis and Kafka faults ---------------------------------------------------------------------------
  {
    name: 'a second daemon with the same instance id refuses to start',
    fast: false,
    async run(w) {
      const d = await w.spawn({}, 20_000);
      if (!d.url) return refused(await d.exited, d.output());
      await w.stopDaemon(d);
      return { ok: false, detail: 'a second daemon with FW_INSTANCE_ID=attack-a started beside the first' };
    },
  },
  {
    // The control for the two below: without a fault, a provoked alert reaches the webhook. If this fails, the
    // suite's alert machinery is broken and the two fault attacks say nothing.
    name: 'an alert is delivered (control)',
    fast: false,
    async run(w) {
      return provokeAndWait(w);
    },
  },
  {
    name: 'an alert after Redis FLUSHALL is delivered',
    fast: false,
    async run(w) {
      await w.client.flushall();
      return provokeAndWait(w);
    },
  },
  {
    name: 'an alert after a Redis restart without persistence is delivered',
    fast: false,
    async run(w) {
      await w.redis.restart();
      await within(10_000, async () => (await w.request('/readyz', { auth: false })).status === 200);
      return provokeAndWait(w);
    },
  },
  {
    name: 'ingest answers while Redis is paused',
    fast: false,
    async run(w) {
      process.kill(w.redis.pid(), 'SIGSTOP');
      let r: Reply;
      try {
        r = await w.request('/v1/events', {
          method: 'POST',
          body: JSON.stringify(w.events({ n: 1, ts: Date.now() - MIN, conv: 1, platform: 'web', tag: 'pause' })),
        });
        const ready = await w.request('/readyz', { auth: false });
        await sleep(500);
        process.kill(w.redis.pid(), 'SIGCONT');
        const back = await within(15_000, async () => (await w.request('/readyz', { auth: false })).status === 200);
        return {
          ok: !r.hung && !ready.hung && back,
          detail: `ingest HTTP ${r.status} in ${Math.round(r.ms)} ms, readyz ${ready.status}; ready again: ${back}`,
          hangs: hangs(r, ready),
        };
      } finally {
        try {
          process.kill(w.redis.pid(), 'SIGCONT');
        } catch {
          /* already running */
        }
      }
    },
  },
  {
    // A new Kafka (or a recreated topic) with the same Redis: the log's offsets start again below what Redis
    // recorded as applied. Simulated from the Redis side, as the old broker would have left it (4 partitions).
    name: 'Kafka offsets that go backwards are seen, and nothing accepted is lost',
    fast: false,
    async run(w) {
      const keys = new KeyLayout(w.prefix);
      for (let p = 0; p < 4; p++) await w.client.hset(keys.meta('atk', String(p)), 'o', '1000000000');
      const before = await w.metric('fw_events_applied_total', 'funnel="atk"');
      const evs = w.events({ n: 50, ts: Date.now() - MIN, conv: 0.5, platform: 'regress', tag: `rg${Date.now()}` });
      const accepted = await w.send(evs);
      const seen = await within(
        30_000,
        async () =>
          (await w.metric('fw_kafka_offset_regressions_total')) > 0 ||
          (await w.request('/metrics', { auth: false })).text.includes('fw_kafka_offset_regressions_total{'),
      );
      const ready = await w.request('/readyz', { auth: false });
      // The operator accepts the new log; the held events must then all count.
      await run(process.execPath, ['dist/main.js', 'kafka', 'reset-checkpoints', '--yes'], { env: w.env({}) }).catch(
        () => undefined,
      );
      const applied = await appliedAfter(w, before, accepted);
      const dropped = Math.max(0, accepted - applied);
      return {
        ok: seen && ready.status === 503 && dropped === 0,
        detail:
          `regression seen: ${seen}; readyz ${ready.status}; ` +
          `accepted ${accepted}, applied ${applied} after the reset`,
        acceptedThenDropped: dropped,
      };
    },
  },
  {
    name: 'the feed going quiet shows on the metrics',
    fast: false,
    async run(w) {
      const a = await w.metric('fw_watermark_age_seconds', 'funnel="atk"');
      await sleep(12_000);
      const b = await w.metric('fw_watermark_age_seconds', 'funnel="atk"');
      return { ok: b > a, detail: `fw_watermark_age_seconds{funnel="atk"} ${a} then ${b} 12 s later` };
    },
  },
];
