/**
 * A canary gate's decided verdict as a notification carries it (notify/ delivers it once per gate, canary and
 * baseline; src/gates/ decides it). Plain data, so every receiver can word it without knowing the gate code.
 */
export interface GateNotice {
  gate: string;
  funnel: string;
  /** The dimension and the two values compared. */
  splitBy: string;
  canary: string;
  baseline: string;
  verdict: 'pass' | 'fail';
  /** Machine-readable reason (`harm_established`, `harm_ruled_out`, `srm`, `timeout`) and one sentence for people. */
  reason: string;
  explanation: string;
  /** When the verdict was reached (end of that minute, event time, ms). */
  decidedAt: number;
  canaryRate: number | null;
  baselineRate: number | null;
  /** Relative effect canary/baseline − 1 with its anytime-valid interval. */
  effect: { estimate: number | null; lower: number | null; upper: number | null; level: number };
  /** The API path of the evidence record. */
  evidencePath: string;
  description?: string;
  owner?: string;
}
