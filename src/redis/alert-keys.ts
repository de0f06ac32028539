/**
 * The `{alerts}` key family: the leader lease, alert states and transitions, the delivery outbox and its records,
 * and silences. One hash tag for all of them, so the lease fences the state, transition and outbox writes in one
 * Lua call, and every key lives in one Redis Cluster slot.
 */
export interface AlertsKeys {
  lease: string;
  leaseToken: string;
  state: string;
  transitions: string;
  outbox: string;
  delayed: string;
  delivery: string;
  /** Incident groups per receiver (notify/grouping.ts), written by the fenced alert commit. */
  groups: string;
  /** Per receiver: a pause (429 Retry-After) and the pacing slot, shared by every replica's workers. */
  receiverGates: string;
  /** The open self-alert of a failing receiver (notify/self-alerts.ts), one hash per receiver. */
  selfAlert(receiver: string): string;
  /** The receivers with an open self-alert (a set). */
  selfAlerts: string;
  /** Small facts receivers keep across restarts (a Slack channel's id for its #name), field `receiver|fact`. */
  receiverFacts: string;
  silences: string;
  /** Live replicas taking part in sharded evaluation (engine/shards.ts): member → expiry (ms, Redis time). */
  members: string;
  /** A marker written once per Redis data set (redis/state-loss.ts): gone or changed means Redis lost its data. */
  epoch: string;
}

export function alertsKeys(prefix: string): AlertsKeys {
  const base = `${prefix}:{alerts}:`;
  return {
    lease: `${base}lease`,
    leaseToken: `${base}lease-token`,
    state: `${base}state`,
    transitions: `${base}transitions`,
    // Delivery (notify/outbox.ts): jobs, jobs waiting for their retry time, and per (receiver, incident) records.
    outbox: `${base}outbox`,
    delayed: `${base}outbox-delayed`,
    delivery: `${base}delivery`,
    groups: `${base}groups`,
    receiverGates: `${base}receiver-gates`,
    selfAlert: (receiver) => `${base}self-alert|${receiver}`,
    selfAlerts: `${base}self-alerts`,
    receiverFacts: `${base}receiver-facts`,
    silences: `${base}silences`,
    epoch: `${base}epoch`,
    members: `${base}members`,
  };
}

/** The lease of one evaluation shard (engine/shards.ts); alert-commit-1.lua builds the same name. */
export function shardLeaseKey(prefix: string, shard: string): string {
  return `${prefix}:{alerts}:shard-lease:${shard}`;
}
