/** One value of one segment dimension (`platform=ios`); null in its place means the whole funnel. */
export interface SegmentRef {
  dimension: string;
  value: string;
}
