/**
 * `npm run attack`: starts a daemon with Redis and the Kafka-protocol broker (bench/attack/world.ts), runs every
 * attack of attacks.ts against it, prints a table of what each found and ends with one JSON line of totals.
 * Every total but `attacks` is measured: crashes (the daemon exited or stopped answering /healthz after an attack),
 * hangs (a request or the /healthz probe that runs throughout taking over 5 s), events accepted and then never
 * applied, alerts not delivered, secrets shown, and writes that succeeded without a valid token.
 * `--fast` runs only the attacks that need no fault or restart (what `npm test` runs too).
 */
import { ATTACKS, type Attack, type Finding } from './attacks.js';
import { HANG_MS, World } from './world.js';

export interface Totals {
  attacks: number;
  crashes: number;
  hangs_over_5s: number;
  accepted_then_dropped: number;
  lost_deliveries: number;
  secrets_leaked: number;
  unauthorized_writes: number;
}

export interface AttackResult extends Finding {
  name: string;
  crashed: boolean;
  ms: number;
}

/** Runs the attacks in order on one world; a crashed daemon is restarted so the later attacks still run. */
export async function runAttacks(
  world: World,
  attacks: readonly Attack[],
  log: (line: string) => void = () => undefined,
): Promise<{ results: AttackResult[]; totals: Totals }> {
  const results: AttackResult[] = [];
  // A probe of /healthz throughout: an event loop blocked for over HANG_MS by any attack counts as a hang.
  let probeHangs = 0;
  let probing = true;
  const probe = (async () => {
    while (probing) {
      if (world.daemon.url) {
        const r = await world.request('/healthz', { auth: false });
        if (r.hung) probeHangs++;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  for (const attack of attacks) {
    const t0 = performance.now();
    let finding: Finding;
    try {
      finding = await attack.run(world);
    } catch (err) {
      finding = { ok: false, detail: `the attack itself failed: ${(err as Error).message}` };
    }
    const alive = world.daemon.child.proc.exitCode === null && world.daemon.child.proc.signalCode === null;
    const health = alive ? await world.request('/healthz', { auth: false }) : undefined;
    const crashed = !alive || !health || health.failed;
    if (crashed) {
      log(`  daemon down after "${attack.name}": restarting`);
      await world.restartDaemon();
    }
    const r: AttackResult = { name: attack.name, crashed, ms: performance.now() - t0, ...finding };
    if (crashed) r.ok = false;
    results.push(r);
    log(`${r.ok ? 'ok  ' : 'HOLE'}  ${attack.name}: ${r.detail}${crashed ? ' (daemon crashed)' : ''}`);
  }
  probing = false;
  await probe;
  const sum = (f: (r: AttackResult) => number | undefined) => results.reduce((s, r) => s + (f(r) ?? 0), 0);
  return {
    results,
    totals: {
      attacks: results.length,
      crashes: sum((r) => (r.crashed ? 1 : 0)),
      hangs_over_5s: sum((r) => r.hangs) + probeHangs,
      accepted_then_dropped: sum((r) => r.acceptedThenDropped),
      lost_deliveries: sum((r) => r.lostDeliveries),
      secrets_leaked: sum((r) => r.secretsLeaked),
      unauthorized_writes: sum((r) => r.unauthorizedWrites),
    },
  };
}

async function main(): Promise<void> {
  const fast = process.argv.includes('--fast');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const attacks = ATTACKS.filter((a) => (!fast || a.fast) && (!only || a.name.includes(only)));
  const world = new World();
  const stop = async () => {
    await world.close().catch(() => undefined);
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await world.start();
  if (!world.daemon.url) throw new Error(`the daemon did not start:\n${world.daemon.output().slice(-2_000)}`);
  console.log(
    `attack suite: ${attacks.length} attacks against ${world.daemon.url} ` +
      `(hang = no answer within ${HANG_MS / 1000} s)\n`,
  );
  const { results, totals } = await runAttacks(world, attacks, (l) => console.log(l));
  await world.close();
  const holes = results.filter((r) => !r.ok);
  console.log(`\n${results.length - holes.length} held, ${holes.length} holes`);
  console.log(JSON.stringify(totals));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
