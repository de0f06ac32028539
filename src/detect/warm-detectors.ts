import type { FunnelDef } from '../funnels/funnel.js';
import type { AlertRuleDef } from '../rules/rule.js';
import { MINUTE } from './rule-look.js';
import { scanThresholds } from './thresholds.js';

/**
 * Calibrates, for every (bucket width, resolve_after) pair the rule set's detectors will ask for, the scan
 * thresholds (detect/thresholds.ts: about a second of simulation per pair, then cached for the process). Called
 * when a rule set is loaded, so the cost lands at start-up (before readiness) or at the reload, instead of on the
 * first evaluation tick a minute later, where it held up that tick and ingest (same thread) for about a second.
 * The budget does not matter here: the simulated calibration depends only on the windows and resolve_after.
 */
export function warmDetectors(funnels: readonly FunnelDef[], rules: readonly AlertRuleDef[]): void {
  const bucketOf = new Map(funnels.map((f) => [f.name, f.bucketMs]));
  for (const rule of rules) {
    const b = bucketOf.get(rule.funnel);
    if (b === undefined) continue;
    // Ratio and cohort rules pass their resolve_after; the volume and duration detectors use the default.
    scanThresholds({
      falseAlarmsPerWeek: 1,
      stepMinutes: b / MINUTE,
      resolveAfterMinutes: rule.resolveAfterMs / MINUTE,
    });
    scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: b / MINUTE });
  }
}
