/**
 * Rendezvous hashing (engine/shards.ts): every replica computes the same owner from the same members, whatever
 * their order; shards spread over the members; a member joining takes only shards it wins (nothing moves between
 * the others), and a member leaving gives up only its own.
 */
import { describe, expect, it } from 'vitest';
import { rendezvousOwner } from '../../../src/engine/shards.js';

const shards = Array.from({ length: 600 }, (_, i) => `funnel-${i}`);
const owners = (members: string[]) => new Map(shards.map((s) => [s, rendezvousOwner(s, members)]));

describe('rendezvousOwner', () => {
  it('no members: no owner; one member: it owns everything', () => {
    expect(rendezvousOwner('checkout', [])).toBeUndefined();
    expect(new Set(owners(['solo']).values())).toEqual(new Set(['solo']));
  });

  it('does not depend on the order of the members', () => {
    const a = owners(['r1', 'r2', 'r3']);
    expect(owners(['r3', 'r1', 'r2'])).toEqual(a);
    expect(owners(['r2', 'r3', 'r1'])).toEqual(a);
  });

  it('spreads shards over the members', () => {
    const counts = new Map<string, number>();
    for (const o of owners(['r1', 'r2', 'r3']).values()) counts.set(o!, (counts.get(o!) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(['r1', 'r2', 'r3']);
    // 600 over 3: 200 each on average; a fair hash stays well within ±30 %.
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(140);
      expect(n).toBeLessThan(260);
    }
  });

  it('a joining member takes only the shards it wins; a leaving one gives up only its own', () => {
    const before = owners(['r1', 'r2', 'r3']);
    const after = owners(['r1', 'r2', 'r3', 'r4']);
    let moved = 0;
    for (const s of shards) {
      if (before.get(s) !== after.get(s)) {
        expect(after.get(s)).toBe('r4');
        moved++;
      }
    }
    expect(moved).toBeGreaterThan(90);
    expect(moved).toBeLessThan(210);
    const without = owners(['r1', 'r3']);
    for (const s of shards) if (before.get(s) !== 'r2') expect(without.get(s)).toBe(before.get(s));
  });
});
