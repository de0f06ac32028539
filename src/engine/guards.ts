/**
 * Data-quality guards of a funnel (detection.md "stale data"): pure functions over what the evaluator read.
 *
 * - data_stale: the funnel's watermark (newest event time applied) stopped while traffic was expected. Missing
 *   completions would then look like a conversion drop, so the funnel's rules are inhibited. "Expected" matters:
 *   a quiet funnel at night may see no event for minutes; the guard fires only when the recent entry rate says at
 *   least `minExpected` entries should have arrived in the silence.
 * - no_traffic: entries in the last `recentBuckets` buckets collapsed below `collapseRatio` of the rate of the two
 *   hours before. Conversion rules are inhibited (a rate over a handful of entries says nothing), volume rules are
 *   not: a collapse of traffic is exactly what they are for.
 */

export type GuardName = 'data_stale' | 'no_traffic';

export interface GuardInput {
  now: number;
  /** Newest event time applied over the funnel's partitions; undefined when nothing was ever applied. */
  watermark: number | undefined;
  bucketMs: number;
  /** Entries per bucket, oldest first, ending with the newest complete bucket. */
  entries: readonly number[];
  staleAfterMs: number;
  recentBuckets?: number;
  collapseRatio?: number;
  minExpected?: number;
}

export interface GuardState {
  active: boolean;
  detail: string;
  /** What the guard compared: observed vs expected entries. */
  observed: number;
  expected: number;
}

export type GuardResults = Record<GuardName, GuardState>;

export function evaluateGuards(g: GuardInput): GuardResults {
  const recent = g.recentBuckets ?? 10;
  const ratio = g.collapseRatio ?? 0.1;
  const minExpected = g.minExpected ?? 30;
  const n = g.entries.length;
  const before = g.entries.slice(Math.max(0, n - recent - 120), Math.max(0, n - recent));
  const ratePerBucket = before.length > 0 ? before.reduce((a, x) => a + x, 0) / before.length : 0;

  let stale: GuardState = { active: false, detail: 'no data yet', observed: 0, expected: 0 };
  if (g.watermark !== undefined) {
    const silentMs = Math.max(0, g.now - g.watermark);
    const expected = (ratePerBucket * silentMs) / g.bucketMs;
    const active = silentMs > g.staleAfterMs && expected >= minExpected;
    stale = {
      active,
      observed: 0,
      expected,
      detail: active
        ? `no event applied for ${Math.round(silentMs / 1000)} s ` +
          `(watermark ${new Date(g.watermark).toISOString()}); ` +
          `about ${Math.round(expected)} entries were expected in that time`
        : `watermark ${Math.round(silentMs / 1000)} s behind`,
    };
  }
  const observed = g.entries.slice(Math.max(0, n - recent)).reduce((a, x) => a + x, 0);
  const expected = ratePerBucket * Math.min(recent, n);
  const collapsed = expected >= minExpected && observed < ratio * expected;
  const noTraffic: GuardState = {
    active: collapsed,
    observed,
    expected,
    detail: collapsed
      ? `${observed} entries in the last ${recent} buckets ` +
        `against about ${Math.round(expected)} expected from the two hours before`
      : `${observed} entries in the last ${recent} buckets (about ${Math.round(expected)} expected)`,
  };
  return { data_stale: stale, no_traffic: noTraffic };
}
