/**
 * A run as funnel events, in the native envelope the ingest path takes from anyone (an FwEvent as JSON, ts in ms):
 * one event per passed step that stands for a funnel step (type = that step's event), then `probe_run_passed` or
 * `probe_run_failed`. All carry the reserved `synthetic=true` attribute (real funnels skip them: funnels/match.ts),
 * `probe` and `location`, with the run id as entity, so one run is one entity walking the funnel. A failed step
 * stands for no funnel step: the funnel sees the run stop where the customer would have.
 */
import { SYNTHETIC_ATTR, type FwEvent } from '../events/event.js';
import type { RunResult } from './run-journey.js';

export const RUN_PASSED_EVENT = 'probe_run_passed';
export const RUN_FAILED_EVENT = 'probe_run_failed';

export function runEvents(run: RunResult, funnel: string): FwEvent[] {
  const common = { [SYNTHETIC_ATTR]: 'true', probe: run.journey, location: run.location, funnel };
  const events: FwEvent[] = [];
  run.steps.forEach((s, i) => {
    if (!s.ok || !s.event) return;
    events.push({
      id: `${run.runId}-${i}`,
      type: s.event,
      ts: s.at,
      entity: run.runId,
      attrs: { ...common, step: s.step, latency_ms: String(s.latencyMs), status: String(s.status ?? '') },
    });
  });
  const f = run.failure;
  events.push({
    id: `${run.runId}-end`,
    type: f ? RUN_FAILED_EVENT : RUN_PASSED_EVENT,
    ts: run.finishedAt,
    entity: run.runId,
    attrs: {
      ...common,
      duration_ms: String(run.finishedAt - run.startedAt),
      ...(f
        ? {
            failed_step: f.step,
            reason: f.reason,
            message: f.message.slice(0, 250),
            status: f.status === undefined ? '' : String(f.status),
            latency_ms: String(f.latencyMs),
            excerpt: f.excerpt.slice(0, 250),
          }
        : {}),
    },
  });
  return events;
}
