/**
 * Waits `ms` in steps of at most 500 ms while `active()` holds, heartbeating after each step so the consumer keeps
 * its group membership (and its partitions) during a retry backoff. Returns early when the work is no longer
 * wanted (stop or rebalance) or a heartbeat fails (a rebalance began; the caller sees `active()` turn false or
 * kafkajs takes over).
 */
export async function sleepWhile(ms: number, active: () => boolean, heartbeat: () => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && active()) {
    await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
    try {
      await heartbeat();
    } catch {
      return;
    }
  }
}
