/**
 * Relative change over the newest buckets only: as many as it takes to expect RECENT_MIN_EXPECTED events (its
 * relative noise ≈ 5 %), at least RECENT_MIN_BUCKETS, at most RECENT_MAX_BUCKETS. The scan answers "did the rate
 * drop somewhere in the last four hours" (its long windows still see an incident an hour after it ended); this
 * answers "is it still down now", which is what resolving and re-triggering must ask.
 */
export interface RecentChange {
  relativeChange: number;
  buckets: number;
  expected: number;
}

const RECENT_MIN_EXPECTED = 400;
const RECENT_MIN_BUCKETS = 5;
const RECENT_MAX_BUCKETS = 60;

export function recentChange(
  observed: ArrayLike<number>,
  expected: ArrayLike<number>,
  direction: 'drop' | 'increase',
): RecentChange {
  let o = 0,
    e = 0,
    k = 0;
  for (let i = observed.length - 1; i >= 0 && k < RECENT_MAX_BUCKETS; i--) {
    k++;
    const ei = expected[i]!;
    if (!(ei > 0)) continue;
    o += observed[i]!;
    e += ei;
    if (e >= RECENT_MIN_EXPECTED && k >= RECENT_MIN_BUCKETS) break;
  }
  const rel = e > 0 ? (direction === 'drop' ? (e - o) / e : (o - e) / e) : 0;
  return { relativeChange: rel, buckets: k, expected: e };
}
