/**
 * A funnel as the rest of the code sees it, after the rule files were parsed, validated and defaulted
 * (rules/ turns YAML into this; windows/ and ingest/ consume it).
 */
export interface StepDef {
  /** Step name used in rules and reports, e.g. `payment`. */
  name: string;
  /** Event type that counts as reaching this step. */
  event: string;
  /** Optional attribute filter: every listed attribute must equal one of the listed values. */
  where?: Record<string, string[]>;
}

export interface DimensionDef {
  /** Attribute name, e.g. `platform`. */
  name: string;
  /** Distinct values tracked; any value beyond the first `maxValues` seen is counted as `other`. */
  maxValues: number;
}

export interface RetentionDef {
  /** How long fine buckets are kept. */
  fineMs: number;
  /** Width of the coarser rollup buckets kept for seasonal baselines. */
  rollupBucketMs: number;
  /** How long rollup buckets are kept (default 5 weeks). */
  rollupMs: number;
}

export interface FunnelDef {
  name: string;
  /** Where the entity id comes from: `entity` (the event's own entity) or `attrs.<name>`. */
  entityField: string;
  /** Ordered steps; steps[0] is the entry step. */
  steps: StepDef[];
  /** How long after entry a later step still counts as a conversion of that entity. */
  conversionWindowMs: number;
  /** Width of the fine time buckets (event time). */
  bucketMs: number;
  /** How far behind the partition watermark an event may arrive and still be counted. */
  allowedLatenessMs: number;
  dimensions: DimensionDef[];
  /** Services whose deploys may affect this funnel (deploy correlation). */
  services: string[];
  retention: RetentionDef;
}

export const FUNNEL_DEFAULTS = {
  bucketMs: 60_000,
  allowedLatenessMs: 5 * 60_000,
  dimensionMaxValues: 20,
  retention: { fineMs: 3 * 86_400_000, rollupBucketMs: 15 * 60_000, rollupMs: 35 * 86_400_000 },
} as const;
