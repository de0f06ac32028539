/**
 * Ingest throughput benchmark (issue 4): how many events per second the daemon turns into exactly-once window
 * counts on this machine, next to the machine's ceiling measured in the same run: a bare kafkajs consumer group
 * (same fetch settings) that only parses the JSON: no commits, no other work.
 *
 * Method. The Kafka-protocol broker here (kcat's librdkafka mock cluster, started like the tests start it) keeps
 * only the newest ~5 MB per partition, so a 1,000,000-event backlog cannot be produced up front. Each consumer is
 * measured on backlogs instead: in every round the consumer process is frozen (SIGSTOP), ROUND events are produced
 * (well under the truncation limit), the consumer is resumed (SIGCONT) and timed until it has handled all of
 * them: for the ceiling, its own count of parsed messages; for the daemon, the offsets Redis recorded as applied.
 * Throughput = events / summed drain time. The consumer therefore never waits for a producer (which would measure
 * the producer), and never shares the CPU with one while it is timed. The ceiling's and the daemon's rounds
 * alternate (each frozen while the other runs), so slow drifts of the machine's speed hit both alike. At the end
 * the run checks that every produced event was consumed and, for the daemon, counted in Redis: a truncated log
 * cannot flatter the figures.
 *
 * Both consumers run with the daemon's node flags (src/app/node-flags.ts: the Docker image and the `funnelwatch`
 * command pass them), so neither gets a runtime setting the other lacks.
 *
 * Run: npm run bench:ingest   (EVENTS=1000000, ROUND=80000 by default)
 * Last line: one JSON object with events_per_s, ceiling_events_per_s, ratio_to_ceiling, redis_cmds_per_1k_events,
 * p99_batch_apply_ms, rss_mb.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, cpSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners, CompressionTypes, type Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { startRedisServer } from '../src/devenv/redis-server.js';
import { startMockKafka } from '../src/devenv/mock-kafka.js';
import { freePort } from '../src/devenv/free-port.js';
import { spawnManaged } from '../src/devenv/child.js';
import { Shop } from '../src/demo/shop.js';
import { mulberry32 } from '../src/core/prng.js';
import type { FwEvent } from '../src/events/event.js';
import { loadRuleDir } from '../src/rules/loader.js';
import { RedisWindowStore } from '../src/windows/redis-window-store.js';
import { DAEMON_NODE_FLAGS } from '../src/app/node-flags.js';

const EVENTS = Number(process.env.EVENTS ?? 1_000_000);
/** Events per round: 4 partitions × ~5 MB of ~170-byte events is ~120k before the broker truncates. */
const ROUND = Number(process.env.ROUND ?? 80_000);
/** Events per produce request: about 4,000 per partition (~700 kB), under the consumers' 1 MB per partition fetch.
 *  The mock broker answers a fetch with ONE produced batch per partition, where a real broker fills the fetch up to
 *  its byte limit from all the batches a lagging consumer has not read yet; producing in large batches makes the
 *  mock's fetches the size a real broker's would be for a consumer working through a backlog. */
const CHUNK = Number(process.env.CHUNK ?? 16_000);
const SELF = fileURLToPath(import.meta.url);
/** The repository root: npm scripts run there. */
const ROOT = process.cwd();

const BROWSE_FUNNEL = `# third funnel of the ingest benchmark
funnel:
  name: browse
  entity: entity
  steps:
    - { name: search, event: search_performed }
    - { name: product, event: product_viewed }
    - { name: cart, event: added_to_cart }
  conversion_window: 30m
  dimensions: [platform, region, app_version, category]
`;

/** Deterministic realistic events: the demo shop's checkouts and signups plus a browse funnel. */
function* generate(total: number, startTime: number): Generator<FwEvent[]> {
  const shop = new Shop({ seed: 1, checkoutsPerMinute: 12_000, startTime });
  const rnd = mulberry32(2);
  const pick = (xs: readonly string[]) => xs[Math.floor(rnd() * xs.length)]!;
  let n = 0;
  let seq = 0;
  for (let t = startTime + 1000; n < total; t += 1000) {
    const batch = shop.tick(t);
    for (let i = 0; i < 120; i++) {
      const entity = `brw_${(seq++).toString(36)}`;
      const attrs = {
        platform: pick(['ios', 'android', 'web']),
        region: pick(['eu', 'us', 'apac']),
        app_version: pick(['5.2.0', '5.1.3', '5.0.9']),
        category: pick(['shoes', 'books', 'toys', 'garden', 'tools']),
      };
      const t0 = t - 1000 + rnd() * 1000;
      batch.push({ id: `b${seq}a`, type: 'search_performed', ts: Math.round(t0), entity, attrs });
      if (rnd() < 0.7) batch.push({ id: `b${seq}b`, type: 'product_viewed', ts: Math.round(t0 + 200), entity, attrs });
      if (rnd() < 0.3) batch.push({ id: `b${seq}c`, type: 'added_to_cart', ts: Math.round(t0 + 400), entity, attrs });
    }
    batch.sort((a, b) => a.ts - b.ts);
    const take = batch.slice(0, total - n);
    n += take.length;
    yield take;
  }
}

// role: ceiling — a bare kafkajs consumer group that only parses every message: no commits, no other work. It
// reports its running count on stdout; the orchestrator times it by that count.
async function ceilingRole(brokers: string[], topic: string, group: string) {
  const kafka = new Kafka({ clientId: 'bench-ceiling', brokers, logLevel: logLevel.ERROR });
  const c = kafka.consumer({ groupId: group, maxBytesPerPartition: 1024 * 1024, maxWaitTimeInMs: 500 });
  c.on(c.events.GROUP_JOIN, () => process.stdout.write('joined\n'));
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  let n = 0;
  let sink = 0;
  await c.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) sink += (JSON.parse(m.value!.toString()) as { ts: number }).ts & 1;
      n += batch.messages.length;
      process.stdout.write(`n ${n}\n`);
    },
  });
  process.once('SIGTERM', () => void c.disconnect().then(() => process.exit(sink >= 0 ? 0 : 1)));
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number, tid?: number): number {
  const f = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
    .split(') ')[1]!
    .split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function peakRssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

/** The consumer under test or the ceiling, as a managed child: killed with this process even if it dies abruptly. */
function runChild(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; done: Promise<string> } {
  const { proc } = spawnManaged(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<string>((resolve, reject) =>
    proc.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}: ${out.slice(-2000)}`)),
    ),
  );
  return { proc, done };
}

function histogramQuantile(metrics: string, name: string, q: number): number {
  const rows = [...metrics.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm'))].map((m) => ({
    le: m[1] === '+Inf' ? Infinity : Number(m[1]),
    n: Number(m[2]),
  }));
  const total = rows[rows.length - 1]?.n ?? 0;
  const target = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const r of rows) {
    if (r.n >= target) {
      if (!Number.isFinite(r.le)) return prevLe;
      return prevLe + ((r.le - prevLe) * (target - prevN)) / Math.max(1, r.n - prevN); // linear within the bucket
    }
    prevLe = r.le;
    prevN = r.n;
  }
  return prevLe;
}

interface Measured {
  seconds: number;
  produced: number;
  counted: number;
  perType: Record<string, number>;
  avgBytes: number;
}

/**
 * One consumer under test, measured on backlogs round by round. Each round freezes it, produces ROUND events to its
 * topic, resumes it and times it until `progress()` (events fully handled by it) reaches what was produced; then it
 * is frozen again, so it takes no CPU while the other consumer is timed.
 */
class Drain {
  private readonly perType: Record<string, number> = {};
  private produced = 0;
  private bytes = 0;
  private seconds = 0;
  /** Events handled inside the timed spans (each round's first observed progress is before its clock starts). */
  private counted = 0;
  private readonly gen: Generator<FwEvent[]>;
  private carry: FwEvent[] = [];

  constructor(
    private readonly producer: Producer,
    private readonly consumer: ChildProcess,
    private readonly topic: string,
    startTime: number,
    private readonly progress: () => Promise<number> | number,
  ) {
    this.gen = generate(EVENTS, startTime);
  }

  get done(): boolean {
    return this.produced >= EVENTS;
  }

  async round(): Promise<void> {
    const { consumer, topic } = this;
    consumer.kill('SIGSTOP');
    let round = 0;
    const target = Math.min(ROUND, EVENTS - this.produced);
    while (round < target) {
      const want = Math.min(CHUNK, target - round);
      while (this.carry.length < want) {
        const next = this.gen.next();
        if (next.done) break;
        this.carry = this.carry.concat(next.value);
      }
      if (this.carry.length === 0) break;
      const take = this.carry.splice(0, want);
      await this.producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: take.map((e) => {
          const value = JSON.stringify(e);
          this.bytes += value.length;
          this.perType[e.type] = (this.perType[e.type] ?? 0) + 1;
          return { key: e.entity, value };
        }),
      });
      round += take.length;
    }
    this.produced += round;
    // The clock starts at the first progress seen after the resume, and only what is handled after it counts: the
    // fetch the consumer had outstanding when it was frozen is held by the mock broker for up to its wait time
    // (a real broker answers as soon as data arrives), which is an artefact of the method, not throughput.
    consumer.kill('SIGCONT');
    let base = await this.progress();
    while (base <= this.produced - round) {
      await new Promise((r) => setTimeout(r, 1));
      base = await this.progress();
    }
    const t0 = performance.now();
    while ((await this.progress()) < this.produced) await new Promise((r) => setTimeout(r, 5));
    this.seconds += (performance.now() - t0) / 1000;
    this.counted += this.produced - base;
    // Let the consumer finish the batch whose commit was just seen (metrics, heartbeat) before it is frozen again:
    // a batch frozen mid-way would show the freeze as its apply time.
    await new Promise((r) => setTimeout(r, 250));
    consumer.kill('SIGSTOP');
  }

  resume(): void {
    this.consumer.kill('SIGCONT');
  }

  result(): Measured {
    return {
      seconds: this.seconds,
      produced: this.produced,
      counted: this.counted,
      perType: this.perType,
      avgBytes: Math.round(this.bytes / this.produced),
    };
  }

  rate(): number {
    return this.counted / Math.max(this.seconds, 1e-9);
  }
}

async function waitFor(probe: () => Promise<boolean> | boolean, what: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  console.log(
    `ingest benchmark: ${EVENTS.toLocaleString('en')} events per consumer, ` +
      `3 funnels, rounds of ${ROUND.toLocaleString('en')}, ` +
      `on ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`,
  );
  console.log(
    `  the daemon and the bare consumer both run with the daemon's node flags: ${DAEMON_NODE_FLAGS.join(' ')}`,
  );
  const [redis, kafka] = await Promise.all([startRedisServer(), startMockKafka(3)]);
  const brokers = kafka.brokers.join(',');
  const startTime = Date.now() - 3 * 3_600_000;
  const k = new Kafka({ clientId: 'bench', brokers: kafka.brokers, logLevel: logLevel.ERROR });
  const producer = k.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
  await producer.connect();
  try {
    // Both consumers run side by side, each frozen while the other is timed, and their rounds alternate: the
    // machine's speed drifts by tens of percent over minutes here (a shared host), and the ratio should compare
    // the two under the same conditions.
    const c1 = runChild([...DAEMON_NODE_FLAGS, SELF, 'ceiling', brokers, 'ceiling-events', 'ceiling']);
    // The child prints `joined` once and `n <count>` after every batch; keep the highest count seen.
    let c1out = '';
    let ceilSeen = 0;
    c1.proc.stdout!.on('data', (d: Buffer) => {
      c1out = (c1out + d.toString()).slice(-8192);
      for (const m of c1out.matchAll(/^n (\d+)$/gm)) ceilSeen = Math.max(ceilSeen, Number(m[1]));
    });
    await producer.send({ topic: 'ceiling-events', messages: [] }).catch(() => undefined);
    await waitFor(() => /^joined$/m.test(c1out), 'the ceiling consumer to join');

    const rulesDir = mkdtempSync(join(tmpdir(), 'fw-bench-rules-'));
    cpSync(join(ROOT, 'rules'), rulesDir, { recursive: true });
    writeFileSync(join(rulesDir, 'browse.yaml'), BROWSE_FUNNEL);
    const loaded = await loadRuleDir(rulesDir);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const port = await freePort();
    const r = new Redis(redis.url);
    // DAEMON_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the daemon without touching the ceiling.
    const daemon = runChild(
      [
        ...DAEMON_NODE_FLAGS,
        ...(process.env.DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        join(ROOT, 'dist/main.js'),
        'run',
      ],
      {
        FW_REDIS_URL: redis.url,
        FW_KAFKA_BROKERS: brokers,
        FW_KAFKA_TOPICS: 'daemon-events',
        FW_KAFKA_GROUP: 'funnelwatch',
        FW_KAFKA_FROM_BEGINNING: 'true',
        FW_RULES_DIR: rulesDir,
        FW_HTTP_PORT: String(port),
        FW_HTTP_HOST: '127.0.0.1',
        FW_LOG_LEVEL: 'warn',
        FW_LOG_PRETTY: 'false',
      },
    );
    await producer.send({ topic: 'daemon-events', messages: [] }).catch(() => undefined);
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200,
      'the daemon to be ready',
    );

    const stats0 = await r.info('commandstats');
    const cpu = async () => {
      const i = await r.info('cpu');
      return Number(i.match(/used_cpu_user:([\d.]+)/)![1]) + Number(i.match(/used_cpu_sys:([\d.]+)/)![1]);
    };
    const cpu0 = await cpu();
    const daemonCpu0 = cpuSeconds(daemon.proc.pid!);
    const daemonMain0 = cpuSeconds(daemon.proc.pid!, daemon.proc.pid!);
    const ceilCpu0 = cpuSeconds(c1.proc.pid!);
    // The daemon is timed by what Redis has applied: the stored offsets of one funnel (every batch records its
    // offset for every funnel), i.e. events counted, not merely read.
    const progressStore = new RedisWindowStore({ redis: r });
    const first = loaded.ruleSet.funnels[0]!;
    const ceilDrain = new Drain(producer, c1.proc, 'ceiling-events', startTime, () => ceilSeen);
    const daemonDrain = new Drain(producer, daemon.proc, 'daemon-events', startTime, async () => {
      const parts = await progressStore.partitions(first);
      return [...(await progressStore.getOffsets(first, parts)).values()].reduce(
        (a: number, b) => a + (b === undefined ? 0 : b + 1),
        0,
      );
    });
    for (let i = 1; !ceilDrain.done || !daemonDrain.done; i++) {
      if (!ceilDrain.done) await ceilDrain.round();
      if (!daemonDrain.done) await daemonDrain.round();
      process.stderr.write(
        `  round ${i}: ceiling ${Math.round(ceilDrain.rate()).toLocaleString('en')} events/s, ` +
          `daemon ${Math.round(daemonDrain.rate()).toLocaleString('en')} events/s so far\r`,
      );
    }
    process.stderr.write('\n');
    ceilDrain.resume();
    daemonDrain.resume();
    const ceil = ceilDrain.result();
    const measured = daemonDrain.result();

    const ceilCpuUs = ((cpuSeconds(c1.proc.pid!) - ceilCpu0) / ceil.produced) * 1e6;
    if (ceilSeen !== ceil.produced)
      throw new Error(
        `the ceiling consumer parsed ${ceilSeen} of ${ceil.produced} events: the broker truncated the log`,
      );
    const ceilRss = peakRssMb(c1.proc.pid!);
    c1.proc.kill('SIGTERM');
    await c1.done;
    const ceilingRate = ceil.counted / ceil.seconds;
    console.log(
      `ceiling (bare kafkajs consumer, JSON.parse only): ` +
        `${ceil.counted.toLocaleString('en')} of ${ceil.produced.toLocaleString('en')} events timed in ` +
        `${ceil.seconds.toFixed(1)} s = ${Math.round(ceilingRate).toLocaleString('en')} events/s, ` +
        `${ceilCpuUs.toFixed(1)} µs CPU per event, peak RSS ${ceilRss} MB`,
    );

    const stats1 = await r.info('commandstats');
    const redisCpuS = (await cpu()) - cpu0;
    const daemonCpuS = cpuSeconds(daemon.proc.pid!) - daemonCpu0;
    const daemonMainS = cpuSeconds(daemon.proc.pid!, daemon.proc.pid!) - daemonMain0;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const rss = peakRssMb(daemon.proc.pid!);
    daemon.proc.kill('SIGTERM');
    await daemon.done;

    // Nothing lost: every step's volume equals what was produced of that event type.
    const store = new RedisWindowStore({ redis: r });
    const mismatches: string[] = [];
    for (const f of loaded.ruleSet.funnels) {
      const t = await store.stepTotals({ funnel: f, from: startTime - 3_600_000, to: Date.now() + 3_600_000 });
      f.steps.forEach((s, i) => {
        const want = measured.perType[s.event] ?? 0;
        if (t.volume[i] !== want) mismatches.push(`${f.name}.${s.name}: counted ${t.volume[i]}, produced ${want}`);
      });
    }
    if (mismatches.length) throw new Error(`counts differ from what was produced:\n  ${mismatches.join('\n  ')}`);

    // Commands Redis executed per 1,000 events: round trips the daemon sent (script calls and plain commands) and
    // everything Redis ran, including the commands inside the Lua scripts.
    const calls = (s: string, pick: (cmd: string) => boolean) =>
      [...s.matchAll(/^cmdstat_([a-z|_]+):calls=(\d+)/gm)]
        .filter((m) => pick(m[1]!))
        .reduce((a, m) => a + Number(m[2]), 0);
    const isScript = (c: string) => c === 'evalsha' || c === 'eval';
    const all = calls(stats1, () => true) - calls(stats0, () => true);
    const scripts = calls(stats1, isScript) - calls(stats0, isScript);
    const eventsPerS = measured.counted / measured.seconds;
    const p99 = histogramQuantile(metrics, 'fw_batch_apply_seconds', 0.99) * 1000;
    const batches = Number(metrics.match(/^fw_batch_apply_seconds_count (\d+)/m)?.[1] ?? 0);
    r.disconnect();
    console.log(
      `daemon (parse, match 3 funnels, cohorts, exactly-once apply, commit): ` +
        `${measured.counted.toLocaleString('en')} of ${measured.produced.toLocaleString('en')} events timed in ` +
        `${measured.seconds.toFixed(1)} s = ${Math.round(eventsPerS).toLocaleString('en')} events/s`,
    );
    console.log(
      `  ${(eventsPerS / ceilingRate).toFixed(2)} of the ceiling; ${batches} batches, ` +
        `p99 batch apply ${p99.toFixed(1)} ms; peak RSS ${rss} MB`,
    );
    console.log(
      `  Redis per 1,000 events: ${((scripts / measured.produced) * 1000).toFixed(1)} script calls, ` +
        `${(((all - scripts) / measured.produced) * 1000).toFixed(1)} other round trips and commands inside scripts ` +
        `(${((all / measured.produced) * 1000).toFixed(0)} in all)`,
    );
    // Where Redis spends its time, per command (a script's usec include the commands it runs).
    const usec = (st: string) =>
      new Map(
        [...st.matchAll(/^cmdstat_([a-z|_]+):calls=(\d+),usec=(\d+)/gm)].map((m) => [
          m[1]!,
          { calls: Number(m[2]), usec: Number(m[3]) },
        ]),
      );
    const u0 = usec(stats0);
    const byCmd = [...usec(stats1)]
      .map(([c, v]) => ({ c, calls: v.calls - (u0.get(c)?.calls ?? 0), usec: v.usec - (u0.get(c)?.usec ?? 0) }))
      .filter((x) => x.calls > 0)
      .sort((a, b) => b.usec - a.usec)
      .slice(0, 6);
    const perCmd = (x: (typeof byCmd)[number]): string =>
      `${x.c} ${(x.usec / measured.produced).toFixed(2)} µs ` +
      `(${((x.calls / measured.produced) * 1000).toFixed(1)}/1k events)`;
    console.log(`  Redis time per event by command: ${byCmd.map(perCmd).join(', ')}`);
    console.log(
      `  CPU per event: redis-server ${((redisCpuS / measured.produced) * 1e6).toFixed(1)} µs, ` +
        `daemon ${((daemonCpuS / measured.produced) * 1e6).toFixed(1)} µs ` +
        `of which its main thread ${((daemonMainS / measured.produced) * 1e6).toFixed(1)} µs ` +
        `(over ${measured.seconds.toFixed(1)} s of drain time)`,
    );
    console.log(
      `  counts in Redis equal the produced counts for every step of the 3 funnels ` +
        `(avg event ${measured.avgBytes} bytes)`,
    );
    console.log(
      JSON.stringify({
        events: measured.produced,
        events_per_s: Math.round(eventsPerS),
        ceiling_events_per_s: Math.round(ceilingRate),
        ratio_to_ceiling: Number((eventsPerS / ceilingRate).toFixed(3)),
        redis_cmds_per_1k_events: Number(((all / measured.produced) * 1000).toFixed(1)),
        redis_script_calls_per_1k_events: Number(((scripts / measured.produced) * 1000).toFixed(2)),
        p99_batch_apply_ms: Number(p99.toFixed(2)),
        redis_cpu_us_per_event: Number(((redisCpuS / measured.produced) * 1e6).toFixed(1)),
        daemon_cpu_us_per_event: Number(((daemonCpuS / measured.produced) * 1e6).toFixed(1)),
        daemon_main_thread_cpu_us_per_event: Number(((daemonMainS / measured.produced) * 1e6).toFixed(1)),
        rss_mb: rss,
        ceiling_rss_mb: ceilRss,
        batches,
        avg_event_bytes: measured.avgBytes,
        cores: cpus().length,
        node: process.version,
      }),
    );
  } finally {
    await producer.disconnect().catch(() => undefined);
    await Promise.all([redis.stop(), kafka.stop()]);
  }
}

const [role, ...args] = process.argv.slice(2);
if (role === 'ceiling') await ceilingRole(args[0]!.split(','), args[1]!, args[2]!);
else {
  // A signal ends the run through process.exit, so the managed children (daemon, ceiling, redis-server, broker)
  // are killed by their exit hook instead of outliving the benchmark (a default signal death runs no hooks).
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)
    process.once(sig, () => process.exit(code));
  await main();
}
