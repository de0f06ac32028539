/**
 * Alert states and the record of their transitions, in Redis. One hash `<prefix>:{alerts}:state` (alertKey →
 * AlertState JSON) holds where every (rule, segment) stands, so a new leader continues exactly where the last one
 * stopped; one stream `<prefix>:{alerts}:transitions` holds the recent transitions, newest last (capped at about
 * 10,000 entries with XADD MAXLEN ~), for GET /v1/alerts and the logs.
 *
 * Every write is one Lua call (lua/alert-commit-1.lua) fenced by the leader lease's token: states, deletions,
 * transitions, the incident groups and the delivery jobs the planner made (notify/plan.ts, serialised by
 * notify/delivery-log.ts) land together or not at all, and only while the caller still holds the lease. A commit
 * that Redis applied but whose answer was lost may be retried and then appends its transitions and jobs twice; job
 * ids are stable per incident group, receiver and event, and the outbox settles a job whose effect is already
 * recorded without delivering it again (notify/outbox.ts).
 *
 * Neither key expires: a firing alert must survive any quiet period, and the state hash holds one small entry per
 * (rule, segment), removed when its rule goes (`deleteKeys`). JSON has no NaN or Infinity: such numbers in
 * evidence come back as null.
 */
import type { Logger } from '../obs/logger.js';
import { FwError } from '../core/errors.js';
import { alertKey } from '../model/alert-key.js';
import { ALERT_STATUSES, type AlertState } from '../model/alert-state.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { OutboxWrite } from '../notify/delivery-log.js';
import type { GroupWrite } from '../notify/plan.js';
import { alertsKeys } from '../redis/alert-keys.js';
import { callEngineCommand, defineEngineCommands, engineRedisFailure, type RedisLike } from './lease.js';

export interface RedisAlertStoreOptions {
  redis: RedisLike;
  prefix: string;
  /** Approximate cap on the transition stream; default 10,000. */
  maxTransitions?: number;
  /** Where an unreadable stored state is reported (it is skipped: that alert starts over rather than all stopping). */
  logger?: Logger;
}

const STATUSES: ReadonlySet<string> = new Set(ALERT_STATUSES);

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
      else
        this.o.logger?.warn(
          { key: this.keys.state, field: key },
          'unreadable alert state skipped; that alert starts over as inactive',
        );
    }
    return out;
  }

  /**
   * Writes the states (keyed by their alertKey), removes `deleteKeys`, queues the delivery jobs (`outbox`, as the
   * delivery log serialised them: notify/delivery-log.ts) and appends the transitions, in one step, if `token` is
   * the current lease's; 'fenced' (nothing written) otherwise.
   */
  async commit(
    token: number,
    states: AlertState[],
    transitions: AlertTransition[],
    opts: {
      deleteKeys?: string[];
      outbox?: readonly OutboxWrite[];
      groups?: readonly GroupWrite[];
      /** The evaluation shard whose lease `token` is from (engine/shards.ts); absent: the leader lease. */
      shard?: string;
    } = {},
  ): Promise<'ok' | 'fenced'> {
    if (!Number.isSafeInteger(token) || token < 0) {
      throw new FwError('ALERT_BAD_ARGUMENTS', `alert commit: the fencing token must be a whole number, got ${token}`);
    }
    const del = opts.deleteKeys ?? [];
    const jobs = opts.outbox ?? [];
    const fence = opts.shard === undefined ? String(token) : `${token}/${opts.shard}`;
    const argv: (string | number)[] = [fence, this.maxTransitions, states.length];
    for (const s of states) argv.push(alertKey(s.rule, s.segment), JSON.stringify(s));
    argv.push(del.length, ...del);
    argv.push(jobs.length);
    for (const j of jobs) argv.push(j.mark, j.marker, j.job);
    const groups = opts.groups ?? [];
    argv.push(groups.length);
    for (const g of groups) argv.push(g.field, g.value);
    for (const t of transitions) argv.push(t.id, JSON.stringify(t));
    const reply = await callEngineCommand(
      this.o.redis,
      'alertCommit',
      'ALERT',
      [this.keys.state],
      argv,
      `committing ${states.length} alert states, ${transitions.length} transitions and ${jobs.length} delivery jobs`,
    );
    if (Array.isArray(reply) && reply.length === 2) {
      const code = Number(reply[0]);
      if (code === 1) return 'ok';
      if (code === -1) return 'fenced';
      if (code === -2)
        throw new FwError('ALERT_BAD_ARGUMENTS', `alert commit: the script refused its arguments: ${String(reply[1])}`);
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
    if (
      s &&
      typeof s === 'object' &&
      typeof s.rule === 'string' &&
      typeof s.status === 'string' &&
      STATUSES.has(s.status) &&
      typeof s.seq === 'number' &&
      typeof s.since === 'number'
    ) {
      return s as AlertState;
    }
  } catch {
    // fall through: unreadable
  }
  return undefined;
}
