import { describe, it, expect } from 'vitest';
import { addHash, codeNames, decodeDimension, decodeTotals } from '../../../src/windows/aggregate.js';
import { cohortCounts, ratio } from '../../support/window-queries.js';
import { dimCohortField, dimVolumeField, MISSING_CODE, OTHER_CODE } from '../../../src/windows/key-layout.js';

describe('window aggregation', () => {
  it('sums hashes and decodes totals', () => {
    const f = addHash(addHash(new Map(), { 0: '5', 1: '3', 101: '2', 201: '1', 402: '4' }), { 0: '1', 502: '2' });
    expect(decodeTotals(f, 3)).toEqual({
      volume: [6, 3, 0],
      cohort: [6, 2, 0],
      duplicates: [0, 1, 0],
      outOfOrder: [0, 0, 0],
      noEntry: [0, 0, 4],
      expired: [0, 0, 2],
    });
  });

  it('decodes dimension fields into named values, other and missing', () => {
    const names = codeNames(
      new Map([
        ['ios', 0],
        ['web', 1],
      ]),
    );
    const f = new Map([
      [dimVolumeField(0, 0), 4],
      [dimVolumeField(1, OTHER_CODE), 2],
      [dimVolumeField(0, MISSING_CODE), 1],
      [dimCohortField(1, 0), 3],
    ]);
    expect(decodeDimension(f, 2, names)).toEqual({
      volume: { ios: [4, 0], other: [0, 2], '(none)': [1, 0] },
      cohort: { ios: [4, 3], '(none)': [1, 0] },
    });
  });

  it('splits a cohort into mature and young buckets by asOf', () => {
    const W = 30;
    const c = cohortCounts(
      [
        { start: 0, widthMs: 10, reached: [10, 5, 2] }, // closes at 40
        { start: 10, widthMs: 10, reached: [4, 1, 0] }, // closes at 50
      ],
      3,
      W,
      45,
    );
    expect(c).toEqual({ entered: 14, reached: [14, 6, 2], young: 4, matureEntered: 10, matureReached: [10, 5, 2] });
    expect(ratio(1, 0)).toBeUndefined();
    expect(ratio(1, 4)).toBe(0.25);
  });
});
