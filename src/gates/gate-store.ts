/**
 * The gate records in Redis: one evidence record per (gate, split dimension, canary, baseline), the latest answer
 * any replica computed, and the announcement of a decided verdict queued on the delivery outbox exactly once
 * (lua/gate-record-3.lua). Under the `{alerts}` hash tag, beside the outbox and the delivery log, so the record, the
 * "announced" mark and the jobs are one atomic step on one Cluster slot.
 */
import { FwError } from '../core/errors.js';
import { alertsKeys } from '../redis/alert-keys.js';
import type { RedisLike } from '../redis/client.js';
import { redisFailure } from '../redis/failure.js';
import { scriptSet } from '../redis/scripts.js';
import type { OutboxWrite } from '../notify/delivery-log.js';
import type { GateEvidence } from './gate-evidence.js';

const scripts = scriptSet(import.meta.url, { record: 'gate-record-3.lua' });

/** Records are kept this long after their last update: as long as deploy markers, for the audit of a rollout. */
export const GATE_RECORD_TTL_MS = 30 * 86_400_000;

/** Identifies one comparison. */
export interface GateComparison {
  gate: string;
  splitBy: string;
  canary: string;
  baseline: string;
}

export class GateStore {
  private readonly keys: ReturnType<typeof alertsKeys>;
  private readonly records: string;

  constructor(private readonly o: { redis: RedisLike; prefix: string }) {
    this.keys = alertsKeys(o.prefix);
    this.records = `${o.prefix}:{alerts}:gates`;
    scripts.define(o.redis);
  }

  /**
   * Stores `record` (unless a record of newer data is stored) and, when `announce` is a verdict not announced
   * before for this comparison, queues `jobs` in the same step. Returns whether this call queued them.
   */
  async save(
    record: GateEvidence,
    announce: 'pass' | 'fail' | undefined,
    jobs: readonly OutboxWrite[],
  ): Promise<{ stored: boolean; queued: boolean }> {
    const argv: (string | number)[] = [
      comparisonField(comparisonOf(record)),
      JSON.stringify(record),
      record.dataUntilMs,
      announce ?? '',
      GATE_RECORD_TTL_MS,
    ];
    for (const j of jobs) argv.push(j.mark, j.marker, j.job);
    const reply = await scripts.run(
      this.o.redis,
      'record',
      [this.records, this.keys.outbox, this.keys.delivery],
      argv,
      'GATE',
      `storing the evidence of gate ${record.gate}`,
    );
    if (!Array.isArray(reply) || reply.length !== 2)
      throw new FwError('GATE_BAD_REPLY', `gate record: unexpected reply ${JSON.stringify(reply)}`);
    return { stored: Number(reply[0]) === 1, queued: Number(reply[1]) === 1 };
  }

  /** Every stored record (a few per rollout, kept 30 days). */
  async all(): Promise<GateEvidence[]> {
    let raw: Record<string, string>;
    try {
      raw = await this.o.redis.hgetall(this.records);
    } catch (err) {
      throw redisFailure(err, 'GATE', 'reading the gate records');
    }
    const out: GateEvidence[] = [];
    for (const [field, json] of Object.entries(raw)) {
      if (field.endsWith('#at') || field.endsWith('#notified')) continue;
      try {
        out.push(JSON.parse(json) as GateEvidence);
      } catch {
        // unreadable: skipped, as in get()
      }
    }
    return out;
  }

  /** The stored record of a comparison, or undefined. */
  async get(c: GateComparison): Promise<GateEvidence | undefined> {
    let raw: string | null;
    try {
      raw = await this.o.redis.hget(this.records, comparisonField(c));
    } catch (err) {
      throw redisFailure(err, 'GATE', `reading the evidence of gate ${c.gate}`);
    }
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as GateEvidence;
    } catch {
      return undefined; // only this code writes it; unreadable means a broken write, answered as "none"
    }
  }
}

export function comparisonOf(e: GateEvidence): GateComparison {
  return { gate: e.gate, splitBy: e.splitBy, canary: e.canary.value, baseline: e.baseline.value };
}

/** The hash field of a comparison; lengths first, so no two comparisons share a field whatever the values hold. */
export function comparisonField(c: GateComparison): string {
  return [c.gate, c.splitBy, c.canary, c.baseline].map((p) => `${p.length}:${p}`).join('|');
}
