/**
 * The world the attack suite runs in: a redis-server, the Kafka-protocol broker, a local webhook receiver that
 * records every delivery, a rules directory of its own, and the real daemon (`dist/main.js run`) as a child
 * process, driven only from outside (HTTP, signals, Redis and broker faults), as an attacker or an outage would.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { spawnManaged, type ManagedChild } from '../../src/devenv/child.js';
import { startMockKafka, type MockKafkaHandle } from '../../src/devenv/mock-kafka.js';
import { startRedisServer, type RedisServerHandle } from '../../src/devenv/redis-server.js';

export const MIN = 60_000;
/** Any request or probe that takes longer than this counts as a hang. */
export const HANG_MS = 5_000;

export interface Delivery {
  at: number;
  body: Record<string, unknown>;
}

export interface HookServer {
  url: string;
  deliveries: Delivery[];
  close(): Promise<void>;
}

async function startHook(): Promise<HookServer> {
  const deliveries: Delivery[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        deliveries.push({ at: Date.now(), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      } catch {
        deliveries.push({ at: Date.now(), body: { unparsable: true } });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The attack funnel: two steps a few seconds apart, one segment dimension. Its rule compares the last minutes with
 * the trailing hour and fires at once (`for: 0`), so an alert can be provoked within a tick or two by playing
 * in 100 minutes of good traffic and then a collapse in one platform value.
 */
function rulesYaml(hookUrl: string): Record<string, string> {
  return {
    'atk.yaml': `funnel:
  name: atk
  entity: entity
  steps:
    - { name: a, event: atk_a }
    - { name: b, event: atk_b }
  conversion_window: 10m
  bucket: 1m
  allowed_lateness: 1m
  dimensions: [platform]
  retention: { fine: 1d, rollup_bucket: 15m, rollup: 7d }
rules:
  - name: atk-drop
    metric: { ratio_conversion: { from: a, to: b } }
    drop: 20%
    baseline: { trailing: 60m }
    min_volume: 20
    for: 0s
    resolve_after: 1m
    severity: critical
    segments: [platform]
    notify: [hook]
`,
    // One funnel per provoked alert: each alert is the first of its funnel, so no earlier incident (of a funnel
    // still firing) can explain it away, and a fault attack's delivery is not confused with another's.
    ...Object.fromEntries(
      Array.from({ length: ALERT_FUNNELS }, (_, i) => [
        `alert${i + 1}.yaml`,
        `funnel:
  name: alert${i + 1}
  entity: entity
  steps:
    - { name: a, event: alert${i + 1}_a }
    - { name: b, event: alert${i + 1}_b }
  conversion_window: 10m
  bucket: 1m
  allowed_lateness: 1m
  dimensions: [platform]
  retention: { fine: 1d, rollup_bucket: 15m, rollup: 7d }
rules:
  - name: alert${i + 1}-drop
    metric: { ratio_conversion: { from: a, to: b } }
    drop: 20%
    baseline: { trailing: 60m }
    min_volume: 20
    for: 0s
    resolve_after: 1m
    severity: critical
    segments: [platform]
    notify: [hook]
`,
      ]),
    ),
    // No group_wait: an attack waits two ticks for its alert's delivery.
    'receivers.yaml': `receivers:
  - name: hook
    group_wait: 0s
    webhook:
      url: ${hookUrl}
`,
  };
}

/** How many alerts the suite can provoke (one funnel each). */
const ALERT_FUNNELS = 6;

export interface DaemonProc {
  child: ManagedChild;
  url: string;
  output(): string;
  exited: Promise<number | string>;
}

export interface Reply {
  status: number;
  text: string;
  ms: number;
  /** No answer within HANG_MS (the request was then aborted). */
  hung: boolean;
  /** The connection failed (refused, reset): with a daemon that should be up, a crash. */
  failed: boolean;
}

export class World {
  readonly token = `atk-${Math.random().toString(36).slice(2)}-secret-token`;
  readonly prefix = `atk${Math.random().toString(36).slice(2, 8)}`;
  readonly topic = `atk-events-${Math.random().toString(36).slice(2, 8)}`;
  rulesDir = '';
  redis!: RedisServerHandle;
  kafka!: MockKafkaHandle;
  hook!: HookServer;
  client!: Redis;
  daemon!: DaemonProc;
  /** Segment values used so far: each provoked alert uses a fresh platform value, so it is a new alert. */
  private segmentSeq = 0;
  /** Events accepted for each provoked alert's funnel. */
  readonly provoked = new Map<string, number>();

  async start(): Promise<void> {
    [this.redis, this.kafka, this.hook] = await Promise.all([startRedisServer(), startMockKafka(3), startHook()]);
    this.client = new Redis(this.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    this.client.on('error', () => undefined);
    await this.client.connect();
    this.rulesDir = mkdtempSync(join(tmpdir(), 'fw-attack-rules-'));
    for (const [name, text] of Object.entries(rulesYaml(this.hook.url))) writeFileSync(join(this.rulesDir, name), text);
    this.daemon = await this.spawn({});
  }

  /** The daemon's environment: loopback, a token, a fast tick so alerts show within seconds. */
  env(extra: Record<string, string>): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      FW_LOG_PRETTY: 'false',
      FW_LOG_LEVEL: 'info',
      FW_HTTP_HOST: '127.0.0.1',
      FW_HTTP_PORT: '0',
      FW_REDIS_URL: this.redis.url,
      FW_REDIS_PREFIX: this.prefix,
      FW_KAFKA_BROKERS: this.kafka.brokers.join(','),
      FW_KAFKA_TOPICS: this.topic,
      FW_KAFKA_GROUP: `${this.topic}-group`,
      FW_KAFKA_DLQ_TOPIC: `${this.topic}-dlq`,
      FW_RULES_DIR: this.rulesDir,
      FW_INGEST_TOKEN: this.token,
      FW_INSTANCE_ID: 'attack-a',
      // Ticks every 5 s instead of every minute, so the lease's TTL shrinks with them (default 30 s against 60 s
      // ticks): a lease lost with Redis's data is taken again within a tick, as in production.
      FW_TICK_SCHEDULE: '*/5 * * * * *',
      FW_LEASE_TTL_MS: '3000',
      FW_DELIVERY_BACKOFF_MS: '200',
      FW_DELIVERY_BACKOFF_MAX_MS: '2000',
      FW_SHUTDOWN_TIMEOUT_MS: '10000',
      ...extra,
    };
  }

  /**
   * Starts a daemon and waits until it runs (HTTP listening and consumers started), or exits, or `waitMs` passes.
   * `url` is set once it listens; `running` once it said so. One that neither runs nor exits in time is killed.
   */
  async spawn(extra: Record<string, string>, waitMs = 60_000): Promise<DaemonProc> {
    const child = spawnManaged(process.execPath, ['--max-semi-space-size=128', 'dist/main.js', 'run'], {
      env: this.env(extra),
    });
    let out = '';
    child.proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | string>((resolve) =>
      child.proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
    );
    const gone = () => child.proc.exitCode !== null || child.proc.signalCode !== null;
    const deadline = Date.now() + waitMs;
    let url = '';
    let running = false;
    while (Date.now() < deadline && !gone()) {
      const m = /"url":"http:\/\/[^:"]+:(\d+)"[^\n]*http server listening/.exec(out);
      if (m) url = `http://127.0.0.1:${m[1]}`;
      if (url && /funnelwatch running/.test(out)) {
        running = true;
        break;
      }
      await sleep(100);
    }
    if (!running && !gone()) {
      await child.stop();
      url = '';
    }
    return { child, url: gone() ? '' : url, output: () => out, exited };
  }

  /** A request with a deadline: the reply, or `hung` after HANG_MS, or `failed` when the connection fails. */
  async request(
    path: string,
    init: RequestInit & { auth?: string | false } = {},
    base = this.daemon.url,
  ): Promise<Reply> {
    const headers = new Headers(init.headers);
    if (init.auth !== false) headers.set('authorization', `Bearer ${init.auth ?? this.token}`);
    if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    const t0 = performance.now();
    try {
      const r = await fetch(`${base}${path}`, { ...init, headers, signal: AbortSignal.timeout(HANG_MS) });
      const text = await r.text();
      return { status: r.status, text, ms: performance.now() - t0, hung: false, failed: false };
    } catch (err) {
      const hung = (err as Error).name === 'TimeoutError';
      return { status: 0, text: String(err), ms: performance.now() - t0, hung, failed: !hung };
    }
  }

  /** The value of one metric series on /metrics (0 when absent). */
  async metric(name: string, labels = ''): Promise<number> {
    const r = await this.request('/metrics', { auth: false });
    const line = r.text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  /** Events of the attack funnel: `n` entities entering at `ts`, a share `conv` of them reaching the second step. */
  events(opts: { n: number; ts: number; conv: number; platform: string; tag: string }): object[] {
    const out: object[] = [];
    for (let i = 0; i < opts.n; i++) {
      const entity = `${opts.tag}-${opts.ts}-${i}`;
      const attrs = { platform: opts.platform };
      out.push({ id: `${entity}-a`, type: 'atk_a', ts: opts.ts, entity, attrs });
      if (i < Math.round(opts.n * opts.conv)) {
        out.push({ id: `${entity}-b`, type: 'atk_b', ts: opts.ts + 5_000, entity, attrs });
      }
    }
    return out;
  }

  /** Posts events in chunks with the token; returns how many the daemon said it accepted. */
  async send(events: object[]): Promise<number> {
    let accepted = 0;
    for (let i = 0; i < events.length; i += 2_000) {
      const r = await this.request('/v1/events', { method: 'POST', body: JSON.stringify(events.slice(i, i + 2_000)) });
      if (r.status >= 200 && r.status < 300) accepted += (JSON.parse(r.text) as { accepted?: number }).accepted ?? 0;
    }
    return accepted;
  }

  /**
   * Provokes a new alert in a funnel of its own (alert1, alert2, …): 100 minutes of traffic converting 90 %, then
   * its last 12 minutes at 10 %, all on one platform value (`value`, or a fresh one). Returns the funnel's name,
   * whose firing delivery the caller then waits for (`firingFor`).
   */
  async provokeAlert(value?: string): Promise<string> {
    const funnel = `alert${++this.segmentSeq}`;
    if (this.segmentSeq > ALERT_FUNNELS) throw new Error(`only ${ALERT_FUNNELS} alert funnels in the attack rules`);
    const platform = value ?? `p-${Math.random().toString(36).slice(2, 6)}`;
    const now = Date.now();
    const start = Math.floor((now - 100 * MIN) / MIN) * MIN;
    const evs: object[] = [];
    for (let t = start; t < now - 2 * MIN; t += MIN) {
      const conv = t >= now - 12 * MIN ? 0.1 : 0.9;
      for (const e of this.events({ n: 60, ts: t + 1_000, conv, platform, tag: funnel }) as { type: string }[]) {
        evs.push({ ...e, type: e.type.replace(/^atk_/, `${funnel}_`) });
      }
    }
    this.provoked.set(funnel, await this.send(evs));
    return funnel;
  }

  /** The firing deliveries the webhook received for one funnel. */
  firingFor(funnel: string): Delivery[] {
    return this.hook.deliveries.filter((d) => {
      const text = JSON.stringify(d.body);
      return text.includes(`"${funnel}"`) && /firing/i.test(text);
    });
  }

  async stopDaemon(d: DaemonProc = this.daemon): Promise<void> {
    await d.child.stop();
  }

  async restartDaemon(extra: Record<string, string> = {}): Promise<void> {
    await this.stopDaemon();
    this.daemon = await this.spawn(extra);
  }

  async close(): Promise<void> {
    await this.stopDaemon().catch(() => undefined);
    this.client.disconnect();
    await Promise.all([this.redis.stop(), this.kafka.stop(), this.hook.close()]);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `probe` is truthy or `ms` passed; returns whether it became true. */
export async function within(ms: number, probe: () => Promise<boolean> | boolean, everyMs = 250): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}
