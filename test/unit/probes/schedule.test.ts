import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { jitterOf, MAX_JITTER_MS, ProbeSchedule } from '../../../src/probes/schedule.js';

const S = 1_000;

describe('probe schedule (virtual time)', () => {
  it('runs a journey once per period, each start within its jitter after its slot, without drift', () => {
    const clock = new ManualClock(0);
    const s = new ProbeSchedule(() => 0.5);
    s.sync([{ name: 'a', everyMs: 60 * S }], clock.now());
    expect(s.nextWakeAt()).toBe(3 * S); // 0.5 of 10 % of a minute
    const starts: number[] = [];
    for (let t = 0; t <= 10 * 60 * S; t += 100) {
      clock.set(t);
      for (const name of s.due(t)) {
        starts.push(t);
        s.finished(name, t + 2 * S);
      }
    }
    expect(starts).toHaveLength(10);
    starts.forEach((t, i) => expect(t).toBe(i * 60 * S + 3 * S));
    expect(s.missed('a')).toBe(0);
  });

  it('never starts a journey while its run is going; slots it overran are skipped and counted', () => {
    const s = new ProbeSchedule(() => 0);
    s.sync([{ name: 'a', everyMs: 10 * S }], 0);
    expect(s.due(0)).toEqual(['a']);
    expect(s.due(10 * S)).toEqual([]);
    expect(s.due(25 * S)).toEqual([]);
    expect(s.isRunning('a')).toBe(true);
    expect(s.nextWakeAt()).toBeUndefined();
    s.finished('a', 35 * S); // slots at 10 s, 20 s and 30 s passed during the run
    expect(s.missed('a')).toBe(3);
    expect(s.nextWakeAt()).toBe(40 * S);
    expect(s.due(40 * S)).toEqual(['a']);
  });

  it('a reload keeps unchanged journeys in place, adds new ones, drops removed ones, restarts a changed period', () => {
    const s = new ProbeSchedule(() => 0);
    s.sync(
      [
        { name: 'a', everyMs: 10 * S },
        { name: 'b', everyMs: 10 * S },
      ],
      0,
    );
    expect(s.due(0).sort()).toEqual(['a', 'b']);
    s.finished('a', 1 * S);
    s.finished('b', 1 * S);
    s.sync(
      [
        { name: 'a', everyMs: 10 * S },
        { name: 'b', everyMs: 30 * S },
        { name: 'c', everyMs: 5 * S },
      ],
      4 * S,
    );
    expect(s.due(4 * S).sort()).toEqual(['b', 'c']); // a keeps its 10 s slot; b restarts; c is new
    expect(s.due(10 * S)).toEqual(['a']);
    s.sync([{ name: 'c', everyMs: 5 * S }], 11 * S);
    expect(s.isRunning('a')).toBe(false);
    expect(s.due(100 * S)).toEqual([]); // c is still running: nothing else is scheduled
  });

  it('jitter is at most 10 % of the period and at most 30 s', () => {
    expect(jitterOf(10 * S, 0.999)).toBe(999);
    expect(jitterOf(3_600 * S, 0.999)).toBeLessThan(MAX_JITTER_MS);
    expect(jitterOf(60 * S, 0)).toBe(0);
  });
});
