import { describe, expect, it } from 'vitest';
import { cohortArrivals, generateStream, MINUTES_PER_WEEK, type Stream } from '../../../bench/detect-sim/stream.js';
import {
  calibrateOracle,
  OracleAlarm,
  oracleFacts,
  oracleLook,
  oraclePages,
  oracleScratch,
  totalArrivals,
} from '../../../bench/detect-sim/oracle.js';
import { logGamma } from '../../../src/gates/stats-srm.js';

/** An incident-free stream of the bench's model (1,250 starts/min at peak, wobble, lag), and what has arrived. */
function world(seed: number, weeks: number) {
  const st = generateStream({ seed, weeks, incidents: { everyWeeks: 1, minutes: 0, drop: 0 } });
  const A = st.maxAge + 1;
  const cum = totalArrivals((j, s, out) => cohortArrivals(st, s, j, st.finals[j]![s]!, 0, out), st);
  return { st, facts: oracleFacts(st), arrived: (T: number, s: number) => cum[s * A + Math.min(T - 1 - s, A - 1)]! };
}

/** P(X ≥ x) and P(X ≤ x) for X ~ Binomial(n, p). */
function binomTails(x: number, n: number, p: number): { upper: number; lower: number } {
  const pmf = (k: number) =>
    Math.exp(logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log(1 - p));
  let upper = 0,
    lower = 0;
  for (let k = 0; k <= n; k++) {
    if (k >= x) upper += pmf(k);
    if (k <= x) lower += pmf(k);
  }
  return { upper, lower };
}

describe('the clairvoyant reference of bench:detect', () => {
  it('holds the false-alarm budget it was calibrated to on a held-out stream', () => {
    // A budget of 20 pages a week (instead of 1) so that a simulated week holds enough pages to test: the
    // calibration and the held-out check are the same code at any budget. Calibrated on seed 101 (a week, the
    // first skipped), checked on seed 202. If the oracle holds its budget, the held-out pages X_B and the
    // calibration pages X_A are Poisson with the same rate, so X_B | X_A + X_B ~ Binomial(N, w_B / (w_A + w_B)):
    // an exact two-sided test at 0.1 % per tail. It fails if the held-out stream pages significantly more than
    // the budget (miscalibrated noise model, lag or threshold) and if the oracle is silent (a threshold that
    // cannot be reached would "hold" any budget).
    const budget = 20;
    const a = world(101, 1);
    const cal = calibrateOracle(a.facts, a.arrived, 1440, a.st.minutes, budget, 0.05);
    const wA = cal.weeks;
    expect(cal.pages).toBeLessThanOrEqual(Math.floor(budget * wA));
    expect(cal.pages).toBeGreaterThan(0.5 * budget * wA); // bisection converged near the budget, not far above h

    const b = world(202, 1);
    console.log(`calibration: ${cal.pages} pages at h = ${cal.threshold.toFixed(3)}`);
    const xB = oraclePages(b.facts, b.arrived, 1440, b.st.minutes, cal.threshold, 0.05);
    const wB = (b.st.minutes - 1440) / MINUTES_PER_WEEK;
    console.log(`held-out: ${xB} pages in ${wB.toFixed(2)} weeks`);
    const tails = binomTails(xB, cal.pages + xB, wB / (wA + wB));
    expect({ xB, pUpper: tails.upper > 0.001 }).toEqual({ xB, pUpper: true });
    expect({ xB, pLower: tails.lower > 0.001 }).toEqual({ xB, pLower: true });
  });

  it('pages within minutes of a 20 % drop that has not fully arrived yet, and resolves after the recovery', () => {
    const w = world(303, 1);
    const st: Stream = w.st;
    const A = st.maxAge + 1;
    // The calibrated threshold of the bench at one page a week is about 4.5; any threshold in that range works.
    const alarm = new OracleAlarm(4.5, 0.05);
    const scratch = oracleScratch();
    const tau = 3 * 1440 + 14 * 60; // a weekday afternoon
    const end = tau + 40;
    const dropped = new Map<number, number[]>();
    const tmp = new Int32Array(A);
    for (let s = tau; s < end; s++) {
      const byAge = new Array<number>(A).fill(0);
      for (let j = 0; j < st.segments.length; j++) {
        cohortArrivals(st, s, j, Math.round(st.finals[j]![s]! * 0.8), 7, tmp);
        for (let k = 0; k < A; k++) byAge[k]! += tmp[k]!;
      }
      dropped.set(s, byAge);
    }
    let paged: number | null = null;
    let resolved: number | null = null;
    for (let T = tau - 60; T < end + 60; T++) {
      const arrived = (s: number) => dropped.get(s)?.[Math.min(T - 1 - s, A - 1)] ?? w.arrived(T, s);
      const look = oracleLook(w.facts, T, arrived, alarm.since, alarm.resolveWindow, scratch);
      const t = alarm.step(T, look);
      if (t === 'firing') {
        expect(T).toBeGreaterThan(tau); // nothing before the drop
        paged ??= T;
      }
      if (t === 'resolved' && paged !== null) resolved ??= T;
    }
    expect(paged).not.toBeNull();
    expect(paged! - tau).toBeLessThanOrEqual(6);
    expect(resolved).not.toBeNull();
    expect(resolved! - end).toBeGreaterThanOrEqual(0);
    expect(resolved! - end).toBeLessThanOrEqual(20);
  });
});
