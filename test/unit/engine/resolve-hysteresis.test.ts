/**
 * Resolving on the newest data, with hysteresis (issue 20): the resolve test on the newest windows
 * (recoveredSteps), the resolve countdown in data time from the window that showed the recovery (okFrom), and the
 * data time a resolve leaves behind (scanFrom) so the next page needs evidence after it.
 */
import { describe, expect, it } from 'vitest';
import { stepAlert, type StateRules } from '../../../src/engine/alert-state.js';
import { recoveredSteps, type RecentWindow } from '../../../src/detect/scan-detector.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { dropEvidence } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 9, 5, 10, 0);
const R: StateRules = { forMs: 0, resolveAfterMs: 3 * MIN };
/** Looks run this long after the data they judge ends (the watermark and the tick). */
const LAG = 40_000;

/** A window of `steps` one-minute buckets expecting 65 completions each, at relative drop `rel`. */
function win(steps: number, rel: number): RecentWindow {
  const expected = 65 * steps;
  const variance = expected * 0.25 * 1.3;
  const z = (expected * rel) / Math.sqrt(variance);
  return { steps, observed: expected * (1 - rel), expected, variance, nullVariance: expected * 0.25, change: rel, z };
}

describe('recoveredSteps', () => {
  it('finds the shortest newest window back at the baseline and apart from the incident level', () => {
    expect(recoveredSteps([win(1, 0.02), win(2, 0.05), win(4, 0.4)], 0.9)).toBe(1);
    // A minute still showing the tail of the outage is not a recovery; the next shortest that is, is.
    expect(recoveredSteps([win(1, 0.3), win(2, 0.03)], 0.9)).toBe(2);
  });

  it('holds a drop lingering at its own level, however the windows are cut (no flapping near a threshold)', () => {
    for (const rel of [0.06, 0.08])
      expect(
        recoveredSteps(
          [1, 2, 4, 8, 16, 32].map((s) => win(s, rel)),
          0.08,
        ),
      ).toBeNull();
  });

  it('minutes into an outage, a window reaching back before the onset is no recovery', () => {
    // Seed 21 of the outage replay: three minutes after the onset the 32-minute window is mostly the
    // healthy data before it (change 2 %); it resolved the alert at 10:35 and it fired again at 10:36.
    const windows = [win(1, 0.37), win(2, 0.38), win(4, 0.39), win(8, 0.2), win(16, 0.07), win(32, 0.02)];
    expect(recoveredSteps(windows, 0.34)).toBe(32);
    expect(recoveredSteps(windows, 0.34, 4)).toBeNull();
    // After the recovery the windows inside the incident show it.
    expect(recoveredSteps([win(1, 0.01), win(2, 0.02), win(4, 0.2)], 0.34, 60)).toBe(1);
  });

  it('holds while the newest data is significantly below the baseline', () => {
    expect(recoveredSteps([win(8, 0.2), win(16, 0.3)], 0.9)).toBeNull();
  });
});

describe('the resolve countdown in data time', () => {
  const firing = (): AlertState =>
    stepAlert(undefined, 'r', null, { condition: 'breach', evidence: dropEvidence(0.9, T0) }, T0 + LAG, R).next;

  function okLook(prev: AlertState, dataTo: number, okFrom: number) {
    return stepAlert(prev, 'r', null, { condition: 'ok', evidence: dropEvidence(0, dataTo), okFrom }, dataTo + LAG, R);
  }

  it('counts from the start of the recovered window, not from the look, and not before the last bad data', () => {
    let s = firing();
    expect(s.status).toBe('firing');
    // The look on data to 10:02 finds 09:59–10:02 recovered, but the previous look judged the data to 10:00 bad:
    // the countdown starts at 10:00, and three minutes of data later it resolves, whatever the looks' lag.
    let step = okLook(s, T0 + 2 * MIN, T0 - MIN);
    expect(step.next.okSince).toBe(T0);
    s = step.next;
    step = okLook(s, T0 + 3 * MIN, T0 + 2 * MIN);
    expect(step.transition).toBe('resolved');
    expect(step.next.resolvedAt).toBe(T0 + 3 * MIN + LAG);
  });

  it('leaves the resolve data time behind, past the quiet resolved → inactive step', () => {
    let s = firing();
    s = okLook(s, T0 + MIN, T0).next;
    s = okLook(s, T0 + 3 * MIN, T0 + 2 * MIN).next;
    expect(s.status).toBe('resolved');
    expect(s.scanFrom).toBe(T0 + 3 * MIN);
    s = stepAlert(
      s,
      'r',
      null,
      { condition: 'ok', evidence: dropEvidence(0, T0 + 4 * MIN) },
      T0 + 4 * MIN + LAG,
      R,
    ).next;
    expect(s.status).toBe('inactive');
    expect(s.scanFrom).toBe(T0 + 3 * MIN);
  });

  it('without okFrom (data guards) counts in wall time as before', () => {
    const s = firing();
    const step = stepAlert(s, 'r', null, { condition: 'ok', evidence: dropEvidence(0, T0 + MIN) }, T0 + 2 * MIN, R);
    expect(step.next.okSince).toBe(T0 + 2 * MIN);
  });
});
