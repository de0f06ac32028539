/**
 * Which deploys most likely caused a drop: the deploys shortly before its onset, ranked by how close they are to it
 * and how relevant they are to the funnel and the segment that dropped, each with its score explained in one line.
 *
 * Pure: the caller reads the deploys (DeployStore.between over `correlationWindow(onset)`) and passes them in.
 *
 * ## The score
 *
 *   score = closeness × relevance / MAX_RELEVANCE                       (0 < score ≤ 1)
 *
 *   closeness = exp(−(onset − ts) / TIME_SCALE_MS)                       deploy at or before the onset
 *             = 1                                                      deploy inside the onset's bucket
 *             = AFTER_ONSET_FACTOR × exp(−(ts − onset) / TIME_SCALE_MS)   deploy after it (within the grace)
 *   relevance = SERVICE_MATCH_WEIGHT         if the service is one of the funnel's `services` (else 1)
 *             × SEGMENT_MATCH_WEIGHT         if the deploy's attrs carry the drop's segment (`platform: android` for a
 *                                            drop in platform=android; a comma list `stripe,adyen` matches either)
 *               SEGMENT_MISMATCH_FACTOR      if they name the same dimension with other values (an iOS release for
 *                                            an Android drop), else 1
 *             × ENVIRONMENT_MISMATCH_FACTOR  if the alert names an environment and the deploy went to another one
 *   MAX_RELEVANCE = SERVICE_MATCH_WEIGHT × SEGMENT_MATCH_WEIGHT
 *
 * Why this shape:
 * - Closeness decays exponentially with a 30-minute scale: a deploy 8 min before the onset keeps 77 %, one 90 min
 *   before keeps 5 %. Bad deploys usually show within minutes (traffic reaches the new version as it rolls out);
 *   the 2-hour lookback still lets a strongly relevant older deploy be named when nothing closer is.
 * - Weights multiply, so "how much further back may a relevant deploy be and still win" has one answer: a factor
 *   of 4 is worth 30 min × ln 4 ≈ 42 min of distance. Concretely, a deploy tagged with the failing segment outranks
 *   an otherwise equal untagged deploy up to 42 min closer to the onset, and beyond that the closer one wins: a
 *   tag is strong evidence, but not stronger than a deploy right at the onset. A funnel service and a segment tag
 *   weigh the same (both say "this change can touch that traffic"); with both, a deploy outranks an unrelated one
 *   up to 83 min closer.
 * - The onset is known to a bucket, not to a millisecond: `onset` is the start of the first bucket that dropped, so
 *   a deploy anywhere inside that bucket (and within the grace) is "at the onset", closeness 1. Treating a deploy
 *   30 s into the onset minute as "after" it named an unrelated deploy of an hour before in the demo.
 * - A deploy after the onset's bucket cannot have started the drop unless clocks lie by a minute or two, so it is
 *   kept (within `graceAfterOnsetMs`) but at a tenth of its weight: it shows when nothing better exists.
 * - A deploy to another environment (staging, for a production drop) is almost never the cause: a tenth.
 *
 * Order: score, then the later deploy first (nearer the onset for the ones before it), then id; the same input
 * always gives the same list.
 */
import { FwError } from '../core/errors.js';
import type { DeploySuspect } from '../model/alert-context.js';
import { formatDuration } from '../core/text.js';
import type { Deploy } from './deploy.js';

export const DEFAULT_LOOKBACK_MS = 2 * 3_600_000;
/** Deploys this long after the onset are still considered: clock skew and the width of a bucket. */
export const DEFAULT_GRACE_AFTER_ONSET_MS = 2 * 60_000;
export const DEFAULT_SUSPECT_LIMIT = 3;
/** The onset's bucket when the alert does not say (the funnels' default `bucket`). */
export const DEFAULT_ONSET_BUCKET_MS = 60_000;

export const TIME_SCALE_MS = 30 * 60_000;
export const SERVICE_MATCH_WEIGHT = 4;
export const SEGMENT_MATCH_WEIGHT = 4;
export const SEGMENT_MISMATCH_FACTOR = 0.5;
export const ENVIRONMENT_MISMATCH_FACTOR = 0.1;
export const AFTER_ONSET_FACTOR = 0.1;
export const MAX_RELEVANCE = SERVICE_MATCH_WEIGHT * SEGMENT_MATCH_WEIGHT;

export interface CorrelationAlert {
  funnel: string;
  /** The funnel's `services` (FunnelDef.services). */
  services: readonly string[];
  /** The segment that dropped; null for the whole funnel. */
  segment: { dimension: string; value: string } | null;
  /** Estimated start of the drop (ms since the epoch): the start of the first bucket that dropped. */
  onset: number;
  /** Width of the onset's bucket (the funnel's `bucket`); default 1 min. Deploys inside it are at the onset. */
  bucketMs?: number;
  /** The environment the daemon watches; deploys to others weigh less. Absent: every environment counts the same. */
  environment?: string;
}

export interface CorrelationOptions {
  /** How far before the onset a deploy may be the cause; default 2 h. */
  lookbackMs?: number;
  /** How far after the onset a deploy is still listed (ranked low); default 2 min. */
  graceAfterOnsetMs?: number;
  /** How many suspects to return; default 3. */
  limit?: number;
}

/** The span of deploy times `rankDeploys` looks at for an onset: read exactly this from the store. */
export function correlationWindow(onset: number, opts: CorrelationOptions = {}): { from: number; to: number } {
  const { lookbackMs, graceMs } = checkedOptions(opts);
  return { from: onset - lookbackMs, to: onset + graceMs };
}

/** The deploys most likely to have caused the drop, best first, at most `limit`. */
export function rankDeploys(
  deploys: readonly Deploy[],
  alert: CorrelationAlert,
  opts: CorrelationOptions = {},
): DeploySuspect[] {
  const { lookbackMs, graceMs, limit } = checkedOptions(opts);
  const from = alert.onset - lookbackMs;
  const to = alert.onset + graceMs;
  const seen = new Set<string>();
  const scored: { d: Deploy; raw: number; why: string }[] = [];
  for (const d of deploys) {
    if (!(d.ts >= from && d.ts <= to) || seen.has(d.id)) continue;
    seen.add(d.id);
    const s = scoreDeploy(d, alert, graceMs);
    scored.push({ d, raw: s.raw, why: s.why });
  }
  scored.sort((a, b) => b.raw - a.raw || b.d.ts - a.d.ts || (a.d.id < b.d.id ? -1 : a.d.id > b.d.id ? 1 : 0));
  return scored.slice(0, limit).map(({ d, raw, why }) => ({
    service: d.service,
    version: d.version,
    environment: d.environment,
    ts: d.ts,
    ...(d.commit !== undefined ? { commit: d.commit } : {}),
    ...(d.author !== undefined ? { author: d.author } : {}),
    ...(d.url !== undefined ? { url: d.url } : {}),
    score: roundScore(raw),
    why,
  }));
}

/**
 * One deploy's score (unrounded, see the module header) and its explanation. A deploy up to
 * min(bucket, grace) after `onset` is inside the onset's bucket: at the onset.
 */
export function scoreDeploy(
  d: Deploy,
  alert: CorrelationAlert,
  graceMs: number = DEFAULT_GRACE_AFTER_ONSET_MS,
): { raw: number; why: string } {
  const parts: string[] = [];
  const dt = alert.onset - d.ts;
  const inOnsetBucket = Math.min(alert.bucketMs ?? DEFAULT_ONSET_BUCKET_MS, graceMs);
  let closeness: number;
  if (dt >= 0) {
    closeness = Math.exp(-dt / TIME_SCALE_MS);
    parts.push(dt < 30_000 ? 'at the onset' : `${formatDuration(dt)} before the onset`);
  } else if (-dt < inOnsetBucket) {
    closeness = 1;
    parts.push('at the onset');
  } else {
    closeness = AFTER_ONSET_FACTOR * Math.exp(dt / TIME_SCALE_MS);
    parts.push(`${formatDuration(-dt)} after the onset, so an unlikely cause (kept for clock skew)`);
  }

  let relevance = 1;
  if (alert.services.some((s) => sameName(s, d.service))) {
    relevance *= SERVICE_MATCH_WEIGHT;
    parts.push(`${d.service} serves ${alert.funnel}`);
  } else if (alert.services.length > 0) {
    parts.push(`${d.service} is not a service of ${alert.funnel}`);
  }

  const seg = alert.segment;
  if (seg && d.attrs) {
    const tagged = Object.entries(d.attrs).find(([k]) => sameName(k, seg.dimension));
    if (tagged) {
      const values = tagged[1].split(',').map((v) => v.trim());
      if (values.some((v) => sameName(v, seg.value))) {
        relevance *= SEGMENT_MATCH_WEIGHT;
        parts.push(`tagged ${tagged[0]}=${tagged[1]} like the drop`);
      } else {
        relevance *= SEGMENT_MISMATCH_FACTOR;
        parts.push(`tagged ${tagged[0]}=${tagged[1]} but the drop is in ${seg.dimension}=${seg.value}`);
      }
    }
  }

  if (alert.environment !== undefined && !sameName(alert.environment, d.environment)) {
    relevance *= ENVIRONMENT_MISMATCH_FACTOR;
    parts.push(`deployed to ${d.environment}, not ${alert.environment}`);
  }

  return { raw: (closeness * relevance) / MAX_RELEVANCE, why: parts.join('; ') };
}

/** Names compared as people mean them: `Payments-Service` and `payments-service` are one service. */
function sameName(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** Four decimals: enough to tell suspects apart in a message, stable in JSON. */
function roundScore(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function checkedOptions(opts: CorrelationOptions): { lookbackMs: number; graceMs: number; limit: number } {
  const lookbackMs = opts.lookbackMs ?? DEFAULT_LOOKBACK_MS;
  const graceMs = opts.graceAfterOnsetMs ?? DEFAULT_GRACE_AFTER_ONSET_MS;
  const limit = opts.limit ?? DEFAULT_SUSPECT_LIMIT;
  for (const [name, v] of [
    ['lookbackMs', lookbackMs],
    ['graceAfterOnsetMs', graceMs],
  ] as const) {
    if (!Number.isFinite(v) || v < 0)
      throw new FwError(
        'DEPLOY_BAD_OPTIONS',
        `deploy correlation: ${name} must be a finite number of ms ≥ 0, got ${v}`,
      );
  }
  if (!Number.isInteger(limit) || limit < 0)
    throw new FwError('DEPLOY_BAD_OPTIONS', `deploy correlation: limit must be a whole number ≥ 0, got ${limit}`);
  return { lookbackMs, graceMs, limit };
}
