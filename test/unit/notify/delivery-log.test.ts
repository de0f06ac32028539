/**
 * The delivery log's layout (notify/delivery-log.ts): the field of a (receiver, incident), the writes the fenced
 * alert commit makes for a tick's jobs, and reading a stored entry back. The Redis side (the commit and the settle
 * script writing these, the outbox reading them) is covered by test/integration/notify/delivery.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { deliveryField, incidentOf, outboxWrites, parseStoredDelivery } from '../../../src/notify/delivery-log.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0);
const alert = { id: 'r@1#1', kind: 'firing', incidentId: 'r@1', rule: 'r', notify: ['slack'] } as AlertTransition;

function job(event: DeliveryJob['event'], patch: Partial<DeliveryJob> = {}): DeliveryJob {
  return { id: `r@1/${event}/slack`, receiver: 'slack', event, alert, createdAt: T0, attempt: 0, ...patch };
}

describe('delivery log layout', () => {
  it('keys an entry by receiver and incident; a job without an incident stands for itself', () => {
    expect(deliveryField('slack', 'r@1')).toBe('slack|r@1');
    expect(incidentOf(job('firing'))).toBe('r@1');
    expect(incidentOf(job('firing', { alert: { ...alert, incidentId: undefined } }))).toBe('r@1/firing/slack');
  });

  it('marks only a trigger pending, and carries every job as its JSON', () => {
    const jobs = [job('firing'), job('resolved'), job('reminder')];
    const writes = outboxWrites(jobs);
    expect(writes.map((w) => w.mark)).toEqual(['slack|r@1', '', '']);
    expect(JSON.parse(writes[0]!.marker)).toEqual({ state: 'pending', at: T0, job: 'r@1/firing/slack' });
    expect(writes[1]!.marker).toBe('');
    expect(writes.map((w) => JSON.parse(w.job) as DeliveryJob)).toEqual(jobs);
  });

  it('reads a stored entry back, and treats a missing or unreadable one as nothing recorded', () => {
    expect(parseStoredDelivery('{"state":"open","at":5,"job":"j"}')).toEqual({ state: 'open', at: 5, job: 'j' });
    expect(parseStoredDelivery(null)).toBeUndefined();
    expect(parseStoredDelivery('not json')).toBeUndefined();
    expect(parseStoredDelivery('{"at":5}')).toBeUndefined();
  });
});
