/**
 * What one look at a rule measured: the numbers a state, a transition and every receiver's message carry. Plain
 * JSON (it is stored in the alert state hash and travels in delivery jobs), so NaN and Infinity come back as null.
 */
export interface Evidence {
  observed: number;
  expected: number;
  observedRate: number;
  expectedRate: number;
  relativeChange: number;
  volume: number;
  windowMinutes: number;
  statistic: number;
  threshold: number;
  pValue: number;
  chanceRatePerWeek: number;
  onset: number | null;
  evaluatedUpTo: number;
  baseline: { kind: 'trailing' | 'seasonal'; fallback?: string; weeksUsed?: number; level?: number };
  noise?: { tau2: number; tau2Slow: number };
  guard?: 'data_stale' | 'no_traffic';
  reason?: string;
  /** Relative change over the newest minutes only (detect/recent-change.ts): what "still off now" is judged on. */
  recentChange?: number;
  recentMinutes?: number;
}
