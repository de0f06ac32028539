/**
 * Prometheus metrics (prom-client). One registry per daemon instance, created by the composition root and passed
 * to every component that records something: no global registry, so tests can run several daemons in one process.
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly eventsConsumed = new Counter({
    name: 'fw_events_consumed_total',
    help: 'Kafka messages handed to the pipeline',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly eventsApplied = new Counter({
    name: 'fw_events_applied_total',
    help: 'Events applied to the funnel windows',
    labelNames: ['funnel'] as const,
    registers: [this.registry],
  });
  readonly eventsRejected = new Counter({
    name: 'fw_events_rejected_total',
    help: 'Events sent to the dead-letter topic, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly eventsIgnored = new Counter({
    name: 'fw_events_ignored_total',
    help: 'Valid events of types no funnel uses',
    registers: [this.registry],
  });
  readonly stepFilterUnmatched = new Counter({
    name: 'fw_step_filter_unmatched_total',
    help: "Events of a step's type that its where filter turned away (ingest/unmatched.ts reports a step near 100 %)",
    labelNames: ['funnel', 'step'] as const,
    registers: [this.registry],
  });
  readonly eventsLate = new Counter({
    name: 'fw_events_late_dropped_total',
    help: 'Events later than the allowed lateness, counted and not applied',
    labelNames: ['funnel'] as const,
    registers: [this.registry],
  });
  readonly windowOutcomes = new Counter({
    name: 'fw_window_events_total',
    help:
      'Matched events by what the window store did with them: ' +
      'entry, step, duplicate, out_of_order (also a step), no_entry ' +
      '(a later step with no known entry: never entered, expired state, or an entity spread over partitions), ' +
      'expired (after the conversion window), late_cohort (cohort increment into a sealed bucket, also a step), ' +
      "filtered (a step's type, turned away by its where), no_entity (no entity under the funnel's entity field)",
    labelNames: ['funnel', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly batchesApplied = new Counter({
    name: 'fw_batches_total',
    help: 'Consumer batches by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly batchApplySeconds = new Histogram({
    name: 'fw_batch_apply_seconds',
    help: 'Time to apply one consumer batch to Redis',
    buckets: [
      0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5,
    ],
    registers: [this.registry],
  });
  readonly kafkaOffsetRegressions = new Counter({
    name: 'fw_kafka_offset_regressions_total',
    help: 'Partitions found with a log shorter than the offset Redis has applied (a new broker or topic), per episode',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });
  readonly consumerLag = new Gauge({
    name: 'fw_consumer_lag',
    help: 'Messages between the high watermark and the committed offset',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });
  readonly watermarkAge = new Gauge({
    name: 'fw_watermark_age_seconds',
    help: 'Age of the newest event time applied, per funnel (over all partitions; refreshed on every tick)',
    labelNames: ['funnel'] as const,
    registers: [this.registry],
  });
  readonly lastEventAge = new Gauge({
    name: 'fw_last_event_age_seconds',
    help: 'Time since this replica last applied an event of the funnel (or since it started), refreshed on every tick',
    labelNames: ['funnel'] as const,
    registers: [this.registry],
  });
  readonly tickSeconds = new Histogram({
    name: 'fw_tick_task_seconds',
    help: 'Time of one run of a once-a-minute task',
    labelNames: ['task'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly tickFailures = new Counter({
    name: 'fw_tick_task_failures_total',
    help: 'Once-a-minute task runs that failed',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });
  readonly tickSkipped = new Counter({
    name: 'fw_tick_skipped_total',
    help: 'Ticks skipped because the previous one was still running',
    registers: [this.registry],
  });
  readonly compactedBuckets = new Counter({
    name: 'fw_compacted_buckets_total',
    help: 'Window buckets moved from the per-partition hot area into funnel history',
    labelNames: ['funnel'] as const,
    registers: [this.registry],
  });
  readonly evalSeconds = new Histogram({
    name: 'fw_eval_seconds',
    help: 'Wall time of one evaluation tick (all funnels and rules), on the leader',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly evalSeries = new Gauge({
    name: 'fw_eval_series',
    help: 'Series (rule × segment value) by the detector result of the last tick',
    labelNames: ['rule', 'result'] as const,
    registers: [this.registry],
  });
  readonly alertsByStatus = new Gauge({
    name: 'fw_alerts',
    help: 'Alert states (rule × segment) by status after the last tick',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly alertTransitions = new Counter({
    name: 'fw_alert_transitions_total',
    help: 'Alert state transitions handed to the notifier, by kind',
    labelNames: ['rule', 'kind'] as const,
    registers: [this.registry],
  });
  readonly evalLeader = new Gauge({
    name: 'fw_evaluator_leader',
    help: '1 while this replica holds the evaluation lease',
    registers: [this.registry],
  });
  readonly evalTicks = new Counter({
    name: 'fw_eval_ticks_total',
    help:
      'Evaluation ticks by outcome: evaluated (leader), ' +
      'standby (not leader), fenced (lost the lease mid-tick), failed',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  // Sharded evaluation (FW_EVAL_SHARDING=funnel, engine/sharded-evaluation.ts).
  readonly evalShardsOwned = new Gauge({
    name: 'fw_eval_shards_owned',
    help: 'Evaluation shards this replica holds (sharded evaluation)',
    registers: [this.registry],
  });
  readonly evalShardMembers = new Gauge({
    name: 'fw_eval_shard_members',
    help: 'Live replicas taking part in sharded evaluation, as this replica saw them at its last heartbeat',
    registers: [this.registry],
  });
  readonly evalFunnelLooks = new Counter({
    name: 'fw_eval_funnel_ticks_total',
    help: 'Evaluation passes over a funnel on this replica (sharded evaluation); summed over replicas, one a minute',
    labelNames: ['funnel'] as const,
    registers: [this.registry],
  });
  readonly evalWatermarkLag = new Gauge({
    name: 'fw_eval_data_lag_seconds',
    help: 'How far the evaluated data (newest complete bucket) is behind the wall clock, per funnel',
    labelNames: ['funnel'] as const,
    registers: [this.registry],
  });
  readonly dataGuard = new Gauge({
    name: 'fw_data_guard',
    help: '1 while a data-quality guard (data_stale, no_traffic) holds a funnel',
    labelNames: ['funnel', 'guard'] as const,
    registers: [this.registry],
  });
  readonly notifyFailures = new Counter({
    name: 'fw_notify_failures_total',
    help: 'Transitions the notifier failed to take',
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'fw_deliveries_total',
    help:
      'Delivery jobs settled, by receiver, event (firing, updated, reminder, resolved, delivery_failed, ' +
      'delivery_recovered, gate_verdict) and outcome: delivered, retried (will be tried again), ' +
      'failed (permanent or given up; self-alerted), ' +
      'skipped (nothing open at that receiver: muted, failed or closed), ' +
      'duplicate (already delivered), waiting (for the trigger of its incident), paused (receiver paused or paced), ' +
      'dropped (a resolve for a receiver no longer configured), lost (another worker took it over)',
    labelNames: ['receiver', 'event', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'fw_delivery_latency_seconds',
    help:
      'From the evaluation that decided a notification to the receiver accepting it ' +
      '(queueing, retries and the request)',
    labelNames: ['receiver', 'event'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [this.registry],
  });
  readonly deliveryRequestSeconds = new Histogram({
    name: 'fw_delivery_request_seconds',
    help: 'One delivery attempt (the HTTP exchange with Slack, PagerDuty or a webhook)',
    labelNames: ['receiver'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly redisStateLost = new Counter({
    name: 'fw_redis_state_lost_total',
    help:
      'Times Redis was found to have lost state the daemon relies on (flushed, restarted empty, failed over ' +
      'to an empty replica), by what showed it',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });
  readonly outboxJobs = new Gauge({
    name: 'fw_outbox_jobs',
    help: 'Delivery jobs waiting: queued (in the stream, new or in hand) and delayed (waiting for a retry time)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly receiverUp = new Gauge({
    name: 'fw_receiver_up',
    help:
      '0 after a receiver refused a job permanently ' +
      '(bad token, unknown channel, 400), 1 again after its next success',
    labelNames: ['receiver'] as const,
    registers: [this.registry],
  });
  readonly deploysRejected = new Counter({
    name: 'fw_deploys_rejected_total',
    help: 'Deploy markers on the deploy topic skipped as invalid, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly ruleReloads = new Counter({
    name: 'fw_rule_reloads_total',
    help: 'Rule directory reloads by outcome (a failed one keeps the previous rules)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly ruleProblems = new Gauge({
    name: 'fw_rule_problems',
    help: 'Problems found by the last rule reload (0 when it was valid)',
    registers: [this.registry],
  });
  readonly gateVerdict = new Gauge({
    name: 'fw_gate_verdict',
    help: 'Last verdict of a canary gate for a canary value: 1 pass, 0 inconclusive, -1 fail',
    labelNames: ['gate', 'canary'] as const,
    registers: [this.registry],
  });
  readonly gateTrials = new Gauge({
    name: 'fw_gate_trials',
    help: 'Trials (entries, maturity-corrected) a gate compared at its last look, by arm (canary, baseline)',
    labelNames: ['gate', 'canary', 'arm'] as const,
    registers: [this.registry],
  });
  readonly gateSuccesses = new Gauge({
    name: 'fw_gate_successes',
    help: 'Conversions a gate compared at its last look, by arm (canary, baseline)',
    labelNames: ['gate', 'canary', 'arm'] as const,
    registers: [this.registry],
  });
  readonly gateDecisions = new Counter({
    name: 'fw_gate_decisions_total',
    help: 'Decided gate verdicts recorded (each once per gate, canary and baseline), by verdict',
    labelNames: ['gate', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly probeRuns = new Counter({
    name: 'fw_probe_runs_total',
    help: 'Canary-user journey runs, by journey, location and outcome (passed, failed)',
    labelNames: ['journey', 'location', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly probeFailures = new Counter({
    name: 'fw_probe_step_failures_total',
    help: 'Failed journey runs by the step that failed and why (status, body, latency, timeout, network, ...)',
    labelNames: ['journey', 'step', 'location', 'reason'] as const,
    registers: [this.registry],
  });
  readonly probeStepSeconds = new Histogram({
    name: 'fw_probe_step_seconds',
    help: 'Latency of each HTTP step of a journey run (steps that got an answer or timed out)',
    labelNames: ['journey', 'step', 'location'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly probeRunsUndelivered = new Counter({
    name: 'fw_probe_runs_undelivered_total',
    help: 'Journey runs whose events or result could not be delivered (ingest or Redis unavailable)',
    labelNames: ['journey'] as const,
    registers: [this.registry],
  });
  readonly ready = new Gauge({ name: 'fw_ready', help: '1 when /readyz answers 200', registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'fw_' });
  }
}
