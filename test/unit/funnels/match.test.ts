import { describe, it, expect } from 'vitest';
import { compileMatcher, entityReader, stepIndexOf, dimensionValuesOf } from '../../../src/funnels/match.js';
import type { FunnelDef } from '../../../src/funnels/funnel.js';
import type { FwEvent } from '../../../src/events/event.js';

const funnel: FunnelDef = {
  name: 'checkout',
  entityField: 'attrs.checkout_id',
  steps: [
    { name: 'start', event: 'checkout_started' },
    { name: 'paid', event: 'order_completed', where: { status: ['paid', 'captured'] } },
    { name: 'any-order', event: 'order_completed' },
  ],
  conversionWindowMs: 1,
  bucketMs: 60_000,
  allowedLatenessMs: 0,
  services: [],
  dimensions: [
    { name: 'platform', maxValues: 3 },
    { name: 'region', maxValues: 3 },
  ],
  retention: { fineMs: 1, rollupBucketMs: 60_000, rollupMs: 1 },
};
const e = (type: string, attrs: Record<string, string>): FwEvent => ({ id: 'x', type, ts: 5, entity: 'user-1', attrs });

describe('funnel matching', () => {
  it('matches a step by event type and its attribute filter, earliest step first', () => {
    const m = compileMatcher(funnel);
    expect(m(e('checkout_started', { checkout_id: 'c1', platform: 'ios' }))).toEqual({
      step: 0,
      ts: 5,
      entity: 'c1',
      dims: ['ios', undefined],
    });
    expect(m(e('order_completed', { status: 'captured', checkout_id: 'c1' }))?.step).toBe(1);
    expect(m(e('order_completed', { status: 'failed', checkout_id: 'c1' }))?.step).toBe(2);
    expect(m(e('page_view', {}))).toBeUndefined();
    expect(stepIndexOf(funnel, e('order_completed', { status: 'paid' }))).toBe(1);
    expect(stepIndexOf(funnel, e('nope', {}))).toBe(-1);
  });

  it('reads the entity from the event or from an attribute, and says when it is missing', () => {
    expect(entityReader('entity')(e('a', {}))).toBe('user-1');
    expect(entityReader('attrs.session')(e('a', { session: 's9' }))).toBe('s9');
    expect(compileMatcher(funnel)(e('checkout_started', {}))?.entity).toBe('');
    expect(() => entityReader('user')).toThrow(
      expect.objectContaining({ code: 'FUNNEL_BAD_ENTITY_FIELD', retriable: false }),
    );
  });

  it('returns one raw dimension value per funnel dimension', () => {
    expect(dimensionValuesOf(funnel, e('x', { region: 'eu', platform: 'web', other: '1' }))).toEqual(['web', 'eu']);
  });

  it('synthetic events (canary users) reach no step of a real funnel; other values of the attribute do', () => {
    const m = compileMatcher(funnel);
    const synthetic = { checkout_id: 'c1', synthetic: 'true', status: 'paid' };
    expect(m(e('checkout_started', synthetic))).toBeUndefined();
    expect(m(e('order_completed', synthetic))).toBeUndefined();
    expect(stepIndexOf(funnel, e('order_completed', synthetic))).toBe(-1);
    expect(m(e('checkout_started', { ...synthetic, synthetic: 'false' }))?.step).toBe(0);
  });
});
