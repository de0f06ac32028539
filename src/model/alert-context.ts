/**
 * What an alert says about its likely cause, beside the evidence: the deploys near the onset and the segments that
 * carry the deficit. The deploy/drill-down work fills these; until then they are absent and every receiver says
 * so in its own words ("no deploy recorded near the onset"). Plain JSON: it travels inside AlertTransition through
 * the alert stream and the delivery outbox.
 */

export interface DeploySuspect {
  service: string;
  version: string;
  environment?: string;
  /** When the deploy happened (ms since epoch). */
  ts: number;
  commit?: string;
  author?: string;
  url?: string;
  /** Higher is more likely; receivers show them in the order given. */
  score: number;
  /** The score explained in one line, e.g. "8 min before the onset; payments-service is a service of checkout". */
  why: string;
}

export interface DrilldownValue {
  value: string;
  expected: number;
  observed: number;
  /** Share of the total deficit this value carries, 0..1. */
  deficitShare: number;
  /** True when the value's own rate moved; false when only its share of traffic did. */
  rateChanged: boolean;
}

export interface DrilldownDimension {
  dimension: string;
  top: DrilldownValue[];
}

export interface DrilldownSummary {
  classification: 'localised' | 'global' | 'mix-shift' | 'no-deficit';
  /** One sentence, e.g. "payment_provider=stripe carries 92% of the deficit (its rate fell 41%, the others' fell
   *  1%)", or "no single segment explains it: …" when no value stands out from the others. */
  summary: string;
  dimensions: DrilldownDimension[];
}

export interface AlertContext {
  deploys?: DeploySuspect[];
  drilldown?: DrilldownSummary;
}
