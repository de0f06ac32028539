/** Per-step (per-minute or per-bucket) funnel counts for one rule and segment. */
export interface Counts {
  /** Entities that entered the funnel (the cohort size). */
  starts: number;
  /** Entities of that cohort that reached the target step. */
  conversions: number;
}
