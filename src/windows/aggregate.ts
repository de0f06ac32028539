/**
 * Pure read-side math of the window store: summing bucket hashes over partitions and buckets, decoding field codes
 * (key-layout.ts) into per-step counts. Kept free of Redis so it is unit tested on its own.
 */
import { decodeDimField, MISSING_CODE, MISSING_VALUE, OTHER_CODE, OTHER_VALUE } from './key-layout.js';
import type { StepCounts } from './window-store.js';

/** Field code → count. */
export type FieldCounts = Map<number, number>;

/** Adds one HGETALL reply (string fields and values) into `into`. */
export function addHash(into: FieldCounts, hash: Record<string, string> | null | undefined): FieldCounts {
  if (!hash) return into;
  for (const [f, v] of Object.entries(hash)) {
    const field = Number(f);
    const n = Number(v);
    if (!Number.isFinite(field) || !Number.isFinite(n)) continue;
    into.set(field, (into.get(field) ?? 0) + n);
  }
  return into;
}

export function zeros(n: number): StepCounts {
  return new Array<number>(n).fill(0);
}

export interface DecodedTotals {
  volume: StepCounts;
  cohort: StepCounts;
  duplicates: StepCounts;
  outOfOrder: StepCounts;
  noEntry: StepCounts;
  expired: StepCounts;
}

/** Decodes a `t` group (kind*100 + step). Cohort[0] is the number of entries, i.e. volume[0]. */
export function decodeTotals(fields: FieldCounts, nSteps: number): DecodedTotals {
  const out: DecodedTotals = {
    volume: zeros(nSteps),
    cohort: zeros(nSteps),
    duplicates: zeros(nSteps),
    outOfOrder: zeros(nSteps),
    noEntry: zeros(nSteps),
    expired: zeros(nSteps),
  };
  const kinds = [out.volume, out.cohort, out.duplicates, out.outOfOrder, out.noEntry, out.expired];
  for (const [field, n] of fields) {
    const kind = Math.floor(field / 100);
    const step = field % 100;
    const arr = kinds[kind];
    if (arr && step < nSteps) arr[step]! += n;
  }
  out.cohort[0] = out.volume[0]!;
  return out;
}

/** Code → display value of one dimension, from the registry (`value` → code). */
export function codeNames(registered: Map<string, number>): Map<number, string> {
  const names = new Map<number, string>([
    [OTHER_CODE, OTHER_VALUE],
    [MISSING_CODE, MISSING_VALUE],
  ]);
  for (const [value, code] of registered) names.set(code, value);
  return names;
}

export interface DecodedDimension {
  volume: Record<string, StepCounts>;
  /** Per entry value: cohort reached per step, [0] = entered. */
  cohort: Record<string, StepCounts>;
}

/** Decodes a `d<i>` group into per-value volume and cohort counts. */
export function decodeDimension(fields: FieldCounts, nSteps: number, names: Map<number, string>): DecodedDimension {
  const out: DecodedDimension = { volume: {}, cohort: {} };
  const row = (rec: Record<string, StepCounts>, value: string) => (rec[value] ??= zeros(nSteps));
  for (const [field, n] of fields) {
    const { kind, step, code } = decodeDimField(field);
    if (step >= nSteps) continue;
    const value = names.get(code) ?? `#${code}`;
    row(kind === 'volume' ? out.volume : out.cohort, value)[step]! += n;
  }
  for (const [value, vol] of Object.entries(out.volume)) {
    if (vol[0]! > 0) row(out.cohort, value)[0] = vol[0]!;
  }
  return out;
}
