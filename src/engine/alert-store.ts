/**
 * Alert states and the record of their transitions, in Redis. One hash `<prefix>:{alerts}:state` (alertKey →
 * AlertState JSON) holds where every (rule, segment) stands, so a new leader continues exactly where the last one
 * stopped; one stream `<prefix>:{alerts}:transitions` holds the recent transitions, newest last (capped at about
 * 10,000 entries with XADD MAXLEN ~), for GET /v1/alerts and the logs.
 *
 * Every write is one Lua call (lua/alert-commit-2.lua) fenced by the leader lease's token: states, deletions,
 * transitions and the delivery jobs the planner made (notify/plan.ts) land together or not at all, and only while
 * the caller still holds the lease. A commit that Redis applied but whose answer was lost may be retried and then
 * appends its transitions and jobs twice; job ids are stable per incident, receiver and event, and the outbox
 * settles a job whose effect is already recorded without delivering it again (notify/outbox.ts).
 *
 * Neither key expires: a firing alert must survive any quiet period, and the state hash holds one small entry per
 * (rule, segment), removed when its rule goes (`deleteKeys`). JSON has no NaN or Infinity: such numbers in
 * evidence come back as null.
 */
import type { Logger } from '../obs/logger.js';
import { FwError } from '../errors.js';
import type { AlertContext } from './alert-context.js';
import { alertKey, type AlertState, type AlertStatus, type AlertTransitionKind, type Evidence, type SegmentRef } from './alert-state.js';
import type { DeliveryJob } from '../notify/receiver.js';
import { alertsKeys, callEngineCommand, defineEngineCommands, engineRedisFailure, type RedisLike } from './lease.js';

export interface AlertTransition {
  /** `${incidentId ?? alertKey}#${seq}`: stable, for deduplication by the delivery side. */
  id: string;
  kind: AlertTransitionKind;
  at: number;
  rule: string;
  funnel: string;
  segment: SegmentRef | null;
  severity: 'critical' | 'warning' | 'info';
  notify: string[];
  owner?: string;
  runbook?: string;
  labels: Record<string, string>;
  description?: string;
  incidentId?: string;
  from: AlertStatus;
  to: AlertStatus;
  evidence?: Evidence;
  /** What the rule watches (for wording in messages); absent means a conversion. */
  metric?: 'cohort_conversion' | 'ratio_conversion' | 'step_volume' | 'step_duration';
  /** A conversion rule measured from a later step than the funnel's entry: that step's name. Its evidence volume
   *  counts arrivals at that step ("1,234 reached payment"), not the funnel's entries ("1,234 checkouts"). */
  countedFrom?: string;
  ruleSetVersion: string;
  /** Likely cause: deploys near the onset and the drill-down (alert-context.ts); absent until that work fills it. */
  context?: AlertContext;
}

/** The field of a (receiver, incident) in the delivery hash (`…:{alerts}:delivery`). */
export function deliveryField(receiver: string, incident: string): string {
  return `${receiver}|${incident}`;
}

/** The id of the transition a step emitted: the incident's id once there is one, else the alert key; then seq. */
export function transitionId(state: AlertState): string {
  return `${state.incidentId ?? alertKey(state.rule, state.segment)}#${state.seq}`;
}

export interface RedisAlertStoreOptions {
  redis: RedisLike;
  prefix: string;
  /** Approximate cap on the transition stream; default 10,000. */
  maxTransitions?: number;
  /** Where an unreadable stored state is reported (it is skipped: that alert starts over rather than all stopping). */
  logger?: Logger;
}

const STATUSES: ReadonlySet<string> = new Set<AlertStatus>(['inactive', 'insufficient', 'pending', 'firing', 'resolved']);

export class RedisAlertStore {
  private readonly keys: ReturnType<typeof alertsKeys>;
  private readonly maxTransitions: number;

  constructor(private readonly o: RedisAlertStoreOptions) {
    this.keys = alertsKeys(o.prefix);
    this.maxTransitions = o.maxTransitions ?? 10_000;
    defineEngineCommands(o.redis);
  }

  /** Every stored state, by alertKey. */
  async load(): Promise<Map<string, AlertState>> {
    let raw: Record<string, string>;
    try {
      raw = await this.o.redis.hgetall(this.keys.state);
    } catch (err) {
      throw engineRedisFailure(err, 'ALERT', 'loading alert states');
    }
    const out = new Map<string, AlertState>();
    for (const [key, json] of Object.entries(raw)) {
      const state = parseState(json);
      if (state) out.set(key, state);
      else this.o.logger?.warn({ key: this.keys.state, field: key }, 'unreadable alert state skipped; that alert starts over as inactive');
    }
    return out;
  }

  /**
   * Writes the states (keyed by their alertKey), removes `deleteKeys` and appends the transitions, in one step,
   * if `token` is the current lease's; 'fenced' (nothing written) otherwise.
   */
  async commit(token: number, states: AlertState[], transitions: AlertTransition[],
    opts: { deleteKeys?: string[]; jobs?: DeliveryJob[] } = {}): Promise<'ok' | 'fenced'> {
    if (!Number.isSafeInteger(token) || token < 0) {
      throw new FwError('ALERT_BAD_ARGUMENTS', `alert commit: the fencing token must be a whole number, got ${token}`);
    }
    const del = opts.deleteKeys ?? [];
    const jobs = opts.jobs ?? [];
    const argv: (string | number)[] = [String(token), this.maxTransitions, states.length];
    for (const s of states) argv.push(alertKey(s.rule, s.segment), JSON.stringify(s));
    argv.push(del.length, ...del);
    argv.push(jobs.length);
    for (const j of jobs) {
      const pending = j.event === 'firing' ? deliveryField(j.receiver, j.alert.incidentId ?? j.id) : '';
      argv.push(pending, pending ? JSON.stringify({ state: 'pending', at: j.createdAt, job: j.id }) : '', JSON.stringify(j));
    }
    for (const t of transitions) argv.push(t.id, JSON.stringify(t));
    const reply = await callEngineCommand(this.o.redis, 'alertCommit', 'ALERT', [this.keys.state], argv,
      `committing ${states.length} alert states, ${transitions.length} transitions and ${jobs.length} delivery jobs`);
    if (Array.isArray(reply) && reply.length === 2) {
      const code = Number(reply[0]);
      if (code === 1) return 'ok';
      if (code === -1) return 'fenced';
      if (code === -2) throw new FwError('ALERT_BAD_ARGUMENTS', `alert commit: the script refused its arguments: ${String(reply[1])}`);
    }
    throw new FwError('ALERT_BAD_REPLY', `alert commit: unexpected reply ${JSON.stringify(reply)}`);
  }

  /** The last `limit` transitions, oldest first (newest last). */
  async recentTransitions(limit: number): Promise<AlertTransition[]> {
    if (!Number.isInteger(limit) || limit <= 0) return [];
    let entries: [string, string[]][];
    try {
      entries = await this.o.redis.xrevrange(this.keys.transitions, '+', '-', 'COUNT', limit);
    } catch (err) {
      throw engineRedisFailure(err, 'ALERT', 'reading recent alert transitions');
    }
    const out: AlertTransition[] = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const fields = entries[i]![1];
      let json: string | undefined;
      for (let f = 0; f + 1 < fields.length; f += 2) if (fields[f] === 't') json = fields[f + 1];
      if (json === undefined) continue;
      try {
        out.push(JSON.parse(json) as AlertTransition);
      } catch {
        // Only this code writes the stream; an entry it cannot read is skipped rather than hiding all the others.
      }
    }
    return out;
  }
}

function parseState(json: string): AlertState | undefined {
  try {
    const s = JSON.parse(json) as Partial<AlertState> | null;
    if (s && typeof s === 'object' && typeof s.rule === 'string' && typeof s.status === 'string' && STATUSES.has(s.status) &&
      typeof s.seq === 'number' && typeof s.since === 'number') {
      return s as AlertState;
    }
  } catch {
    // fall through: unreadable
  }
  return undefined;
}
