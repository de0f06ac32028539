/**
 * The one shape every envelope (native JSON, Segment `track`, CloudEvents) is normalised to before funnel matching.
 * Parsing and validation live in events/parse.ts; everything downstream sees only this.
 */
export interface FwEvent {
  /** Producer-assigned id, kept for dead letters and logs. Exactly-once counting does not rely on it: it rests on
   *  Kafka offsets stored atomically with the counts. */
  id: string;
  /** Event name, e.g. `checkout_started`. */
  type: string;
  /** Event time in epoch milliseconds (never the arrival time). */
  ts: number;
  /** Entity moving through the funnel (checkout id, session, user); '' when the envelope carries none. */
  entity: string;
  /** Flat attributes, values as strings (numbers and booleans stringified, nested objects flattened with dots). */
  attrs: Record<string, string>;
}

/**
 * The reserved attribute of synthetic events (canary-user probes send `synthetic: "true"`): real funnels do not
 * count them (funnels/match.ts), so scripted journeys never dilute real conversion.
 */
export const SYNTHETIC_ATTR = 'synthetic';
