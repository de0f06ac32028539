/**
 * The fast part of `npm run attack` (bench/attack): the attacks that need no fault injection or restart, against a
 * real daemon with its own Redis, Kafka-protocol broker and webhook receiver. Every measured total must be zero.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTACKS } from '../../../bench/attack/attacks.js';
import { runAttacks, type AttackResult } from '../../../bench/attack/run.js';
import { World } from '../../../bench/attack/world.js';

describe('the fast attacks of the attack suite', () => {
  const world = new World();
  beforeAll(async () => {
    await world.start();
    if (!world.daemon.url) throw new Error(`the daemon did not start:\n${world.daemon.output().slice(-2_000)}`);
  }, 120_000);
  afterAll(() => world.close(), 60_000);

  it('finds no hole: no crash, hang, accepted-then-dropped event, leaked secret or unauthorized write', async () => {
    const fast = ATTACKS.filter((a) => a.fast);
    expect(fast.length).toBeGreaterThanOrEqual(15);
    const { results, totals } = await runAttacks(world, fast);
    const holes = results.filter((r: AttackResult) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
    expect(holes).toEqual([]);
    expect(totals).toEqual({
      attacks: fast.length,
      crashes: 0,
      hangs_over_5s: 0,
      accepted_then_dropped: 0,
      lost_deliveries: 0,
      secrets_leaked: 0,
      unauthorized_writes: 0,
    });
  }, 240_000);
});
