/**
 * One cause, one page: a payment provider outage replayed through the shipped example rules (rules/: completion
 * and payment success rules with segments, a duration rule, receivers with the default grouping) must give exactly
 * one `trigger` per receiver for the incident and one `resolve` after recovery, as `funnelwatch replay` reports its
 * notifications. Before incident groups it opened one incident per (rule, segment) that fired: a dozen here.
 */
import { describe, expect, it } from 'vitest';
import { MIN, replayProviderOutage } from './fixture.js';

const T0 = Date.UTC(2026, 9, 5, 8, 0, 0);
const DROP_AT = 150;
const RECOVER_AT = 175;
const MINUTES = 330;

interface Notification {
  kind: 'notification';
  receiver: string;
  group: string;
  action: 'trigger' | 'update' | 'resolve' | 'reminder';
  time: string;
  firing: number;
  members: { rule: string; segment: string | null; status: string }[];
}

async function replayOutage(seed: number): Promise<{ lines: Record<string, unknown>[] }> {
  return {
    lines: await replayProviderOutage({ seed, t0: T0, dropAt: DROP_AT, recoverAt: RECOVER_AT, minutes: MINUTES }),
  };
}

describe('replay of a provider outage through the example rules', () => {
  it('pages once per receiver for the incident and resolves once after recovery', async () => {
    const { lines } = await replayOutage(7);
    const firings = lines.filter((l) => l.kind === 'firing');
    // Several alerts fire for the one cause (the funnel and the provider segment, of more than one rule)…
    expect(new Set(firings.map((l) => `${String(l.rule)}|${String(l.segment)}`)).size).toBeGreaterThan(1);
    const notes = lines.filter((l): l is Notification & Record<string, unknown> => l.kind === 'notification');
    const during = notes.filter((n) => Date.parse(n.time) >= T0 + DROP_AT * MIN);
    expect(notes.filter((n) => Date.parse(n.time) < T0 + DROP_AT * MIN)).toEqual([]);
    // …and each receiver of the checkout rules gets one trigger and one resolve, of one incident.
    for (const receiver of ['pagerduty-checkout', 'slack-payments']) {
      const mine = during.filter((n) => n.receiver === receiver);
      const summary = JSON.stringify(mine.map((n) => [n.action, n.time, n.firing]));
      expect(
        mine.filter((n) => n.action === 'trigger'),
        summary,
      ).toHaveLength(1);
      expect(
        mine.filter((n) => n.action === 'resolve'),
        summary,
      ).toHaveLength(1);
      expect(new Set(mine.map((n) => n.group)).size, summary).toBe(1);
      const resolve = mine.find((n) => n.action === 'resolve')!;
      expect(Date.parse(resolve.time)).toBeGreaterThan(T0 + RECOVER_AT * MIN);
      expect(resolve.members.every((m) => m.status === 'resolved')).toBe(true);
      const trigger = mine.find((n) => n.action === 'trigger')!;
      expect(trigger.members.some((m) => m.segment === 'payment_provider=adyen')).toBe(true);
    }
  }, 240_000);
});
