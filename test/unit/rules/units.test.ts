import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  explainDuration,
  explainPercent,
  explainRate,
  formatDuration,
  parseDuration,
  parsePercent,
  parsePercentile,
  parseRatePerWeek,
} from '../../../src/rules/units.js';

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['3d', 259_200_000],
    ['1w', 604_800_000],
    ['1h30m', 5_400_000],
    ['0s', 0],
    ['90m', 5_400_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['5mins', '5 m', '1.5h', '5', '', 'm', '5M', '30m1h', '1h1h', '5ms', '-5m', ' 5m'])('rejects %j', (text) => {
    expect(explainDuration(text)).toBeDefined();
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });

  it('suggests the spelling that was meant', () => {
    expect(explainDuration('5mins')).toBe(
      '"5mins" is not a duration: ' +
        'write a whole number followed by s, m, h, d or w, e.g. 30s, 5m, 2h, 3d, 1w (or 1h30m) (did you mean "5m"?)',
    );
    expect(explainDuration('2 hours')).toMatch(/did you mean "2h"/);
    expect(explainDuration('10sec')).toMatch(/did you mean "10s"/);
    expect(explainDuration('1.5h')).toMatch(/did you mean "1h30m"/);
    expect(explainDuration('3 Days')).toMatch(/did you mean "3d"/);
    expect(explainDuration('soon')).not.toMatch(/did you mean/);
  });

  it('says a bare number needs a unit', () => {
    expect(explainDuration(5)).toMatch(/^5 has no unit/);
  });

  it('formats the shortest spelling, largest unit first', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(35 * 86_400_000)).toBe('5w');
    expect(formatDuration(8 * 86_400_000 + 1000)).toBe('1w1d1s');
    expect(() => formatDuration(1500)).toThrow(/whole seconds/);
  });

  it('format and parse are inverse for whole seconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (seconds) => {
        const ms = seconds * 1000;
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});

describe('percentages', () => {
  it.each([
    ['5%', 0.05],
    ['0.5%', 0.005],
    ['0.3%', 0.003],
    ['100%', 1],
    ['30%', 0.3],
  ])('%s is %d', (text, v) => {
    expect(parsePercent(text)).toBe(v);
  });

  it.each(['5', '5 %', '%5', 'five%', '-5%', '5.%'])('rejects %j', (text) => {
    expect(explainPercent(text)).toMatch(/not a percentage/);
  });

  it('suggests the % sign', () => {
    expect(explainPercent('5')).toMatch(/did you mean "5%"/);
    expect(explainPercent('5 percent')).toMatch(/did you mean "5%"/);
    expect(explainPercent(5)).toBe('5 needs a % sign: write 5%');
    expect(explainPercent(0.05)).toMatch(/write 5% \(for a fraction of 0.05\) or 0.05%/);
  });
});

describe('false-alarm budgets', () => {
  it('converts to alarms per week', () => {
    expect(parseRatePerWeek('1/week')).toBe(1);
    expect(parseRatePerWeek('1/day')).toBe(7);
    expect(parseRatePerWeek('2/month')).toBeCloseTo((2 * 7 * 12) / 365.2425, 12);
    expect(parseRatePerWeek('0.5/week')).toBe(0.5);
    expect(parseRatePerWeek('52/year')).toBeCloseTo(0.9966, 3);
  });

  it('explains what it expects', () => {
    expect(explainRate('1 per week')).toMatch(/did you mean "1\/week"/);
    expect(explainRate('2/months')).toMatch(/did you mean "2\/month"/);
    expect(explainRate('1/fortnight')).toMatch(/not an alarm budget/);
    expect(explainRate(1)).toMatch(/not an alarm budget/);
  });
});

describe('percentiles', () => {
  it('parses p-notation into a fraction', () => {
    expect(parsePercentile('p95')).toBe(0.95);
    expect(parsePercentile('p50')).toBe(0.5);
    expect(parsePercentile('p99.9')).toBe(0.999);
    expect(() => parsePercentile('p100')).toThrow(/not a percentile/);
    expect(() => parsePercentile('95')).toThrow(/did you mean "p95"/);
  });
});
