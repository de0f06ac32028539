import { describe, it, expect } from 'vitest';
import { backoffCeilingMs, backoffMs, type BackoffPolicy } from '../../../src/core/backoff.js';

const policy = (jitter: BackoffPolicy['jitter']): BackoffPolicy => ({ baseMs: 100, capMs: 5_000, jitter });
const fixed = (v: number) => () => v;

describe('backoffCeilingMs', () => {
  it('doubles from the base per attempt and stops at the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffCeilingMs(n, 100, 5_000))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
  });

  it('stays finite and capped for huge attempts, and treats negative, fractional or NaN attempts sensibly', () => {
    for (const n of [60, 61, 1_000, 1e9, Number.MAX_SAFE_INTEGER, Infinity]) {
      expect(backoffCeilingMs(n, 100, 5_000)).toBe(5_000);
    }
    expect(backoffCeilingMs(1_000, 1, Number.MAX_VALUE)).toBe(2 ** 60);
    expect(backoffCeilingMs(-3, 100, 5_000)).toBe(100);
    expect(backoffCeilingMs(NaN, 100, 5_000)).toBe(100);
    expect(backoffCeilingMs(2.9, 100, 5_000)).toBe(400);
  });

  it('never exceeds a cap below the base, and a zero base stays zero (no 0 · ∞)', () => {
    expect(backoffCeilingMs(0, 100, 50)).toBe(50);
    expect(backoffCeilingMs(1e6, 0, 5_000)).toBe(0);
  });
});

describe('backoffMs', () => {
  it('full jitter spans [0, ceiling]', () => {
    expect(backoffMs(3, policy('full'), fixed(0))).toBe(0);
    expect(backoffMs(3, policy('full'), fixed(0.5))).toBe(400);
    expect(backoffMs(3, policy('full'), fixed(0.999999))).toBe(800);
  });

  it('equal jitter spans [ceiling/2, ceiling]', () => {
    expect(backoffMs(3, policy('equal'), fixed(0))).toBe(400);
    expect(backoffMs(3, policy('equal'), fixed(0.5))).toBe(600);
    expect(backoffMs(3, policy('equal'), fixed(0.999999))).toBe(800);
  });

  it('no jitter is the ceiling, and does not call random', () => {
    expect(
      backoffMs(2, policy('none'), () => {
        throw new Error('not called');
      }),
    ).toBe(400);
  });

  it('keeps every delay within its bounds over many draws and attempts, including past the cap', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 200; n++) {
      const ceiling = backoffCeilingMs(n, 100, 5_000);
      const full = backoffMs(n, policy('full'), random);
      const equal = backoffMs(n, policy('equal'), random);
      expect(Number.isInteger(full) && full >= 0 && full <= ceiling).toBe(true);
      expect(Number.isInteger(equal) && equal >= Math.floor(ceiling / 2) && equal <= ceiling).toBe(true);
    }
  });

  it('spreads delays: draws across [0, 1) give distinct delays (jitter is applied)', () => {
    const delays = new Set([0, 0.2, 0.4, 0.6, 0.8].map((r) => backoffMs(10, policy('full'), fixed(r))));
    expect(delays.size).toBe(5);
  });

  it('clamps a random source that strays outside [0, 1)', () => {
    expect(backoffMs(3, policy('full'), fixed(7))).toBe(800);
    expect(backoffMs(3, policy('full'), fixed(-1))).toBe(0);
    expect(backoffMs(3, policy('equal'), fixed(NaN))).toBe(400);
  });
});
