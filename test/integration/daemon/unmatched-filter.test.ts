/**
 * A step whose `where` turns away every event of its type, in the running daemon: the order events say
 * `status: succeeded`, the shipped checkout funnel's completed step wants `status: paid`. Within the 5-minute span
 * the daemon says so on /readyz (a warning: still ready), in the log (funnel, step, filter, values seen), in
 * fw_step_filter_unmatched_total, and in `explain` for the rules reading that step.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import type { RuleExplanation } from '../../../src/engine/rule-explain.js';
import { startInProcessDaemon } from '../../support/daemon.js';
import { ordersMissingPaidFilter } from '../../support/shop-daemon.js';

const TOKEN = 'unmatched-token';
const MIN = 60_000;

describe('unmatched step filter in the daemon', () => {
  it('warns on /readyz (still ready), logs the values seen, counts per step, and explain names it', async () => {
    const t0 = Math.floor(Date.now() / MIN) * MIN;
    const clock = new ManualClock(t0);
    const logs: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const d = await startInProcessDaemon(TOKEN, { FW_INSTANCE_ID: 'unmatched' }, { clock, logger });
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const events = ordersMissingPaidFilter(t0 - 4 * MIN);
    events.push({ id: 'typo', type: 'checkout_startd', ts: t0 - MIN, entity: 'x', attrs: {} });
    const r = await fetch(`${d.httpUrl}/v1/events`, { method: 'POST', headers, body: JSON.stringify(events) });
    expect(r.status).toBeLessThan(300);

    const ready = await fetch(`${d.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { checks: Record<string, { ok: boolean; warning?: string }> };
    const text =
      'funnel checkout, step completed: its filter where status=paid matched 0 of 30 order_completed events ' +
      'in the last 5 min (values seen: status=pending ×1, status=succeeded ×29)';
    expect(body.checks['step-filters']).toEqual({ ok: true, warning: `${text} (counted on this replica)` });

    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fw_step_filter_unmatched_total\{funnel="checkout",step="completed"\} 30$/m);
    expect(metrics).toMatch(/^fw_events_ignored_total 1$/m);

    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 40,
        funnel: 'checkout',
        step: 'completed',
        filter: 'status=paid',
        seen: 30,
        matched: 0,
        sample: { status: { pending: 1, succeeded: 29 } },
        msg: `${text}: the step counts (almost) nothing; check the filter against the events`,
      }),
    );

    const ex = (await (
      await fetch(`${d.httpUrl}/v1/rules/checkout-completion-drop/explain`, { headers })
    ).json()) as RuleExplanation;
    expect(ex.unmatched).toEqual([expect.objectContaining({ step: 'completed', text })]);
    expect(ex.series[0]!.reasons).toContainEqual({ code: 'unmatched_filter', text });
    // A rule that does not read the step is not told about it.
    const vol = (await (
      await fetch(`${d.httpUrl}/v1/rules/checkout-starts-collapse/explain`, { headers })
    ).json()) as RuleExplanation;
    expect(vol.unmatched).toEqual([]);

    // Five minutes on without such events, the report clears.
    clock.set(t0 + 6 * MIN);
    const later = (await (await fetch(`${d.httpUrl}/readyz`)).json()) as typeof body;
    expect(later.checks['step-filters']).toEqual({ ok: true });
  });
});
