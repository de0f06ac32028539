/**
 * Silences in Redis: one hash `<prefix>:{alerts}:silences`, silence id → Silence JSON. The hash tag puts it in the
 * same Redis Cluster slot as the alert state and the delivery outbox, so delivery code may read silences inside
 * the same script or transaction as the alerts if it ever needs to.
 *
 * One HGETALL answers every question (list, active), which is cheap enough to do every minute: silences are few
 * (tens, maybe hundreds) and small. An expired silence stays listed, as in Alertmanager, so people can see what
 * was muted and by whom; it is deleted `retentionMs` (7 days) after it ended, during the next read that finds it.
 *
 * No expiry on the key: the hash holds silences that start next week. Redis failures are FwError
 * `SILENCE_REDIS`, retriable: they are never the caller's fault, and the HTTP layer answers 503 for them.
 */
import { randomUUID } from 'node:crypto';
import { FwError, errorMessage } from '../core/errors.js';
import { alertsKeys } from '../redis/alert-keys.js';
import type { RedisLike } from '../redis/client.js';
import type { Logger } from '../obs/logger.js';
import { MATCH_OPS, compileRegex, silenceState, type Silence, type SilenceInput } from './silences.js';

/** What the HTTP API and the delivery planner need; RedisSilenceStore is the one implementation. */
export interface SilenceStore {
  create(input: SilenceInput): Promise<Silence>;
  /** Every silence, newest (by createdAt) first, expired ones included until they are garbage collected. */
  list(): Promise<Silence[]>;
  get(id: string): Promise<Silence | undefined>;
  /** Ends the silence at `now`; undefined when there is no such silence. */
  expire(id: string, now: number): Promise<Silence | undefined>;
  /** The silences muting alerts at `now`. */
  active(now: number): Promise<Silence[]>;
}

export interface RedisSilenceStoreOptions {
  redis: RedisLike;
  prefix: string;
  /** Milliseconds since the epoch; stamps createdAt and decides what list/active collect. */
  clock?: () => number;
  /** Where unreadable entries are reported (they are skipped, not fatal: one bad entry must not unmute the rest). */
  logger?: Logger;
  /** How long an ended silence stays listed; default 7 days. */
  retentionMs?: number;
}

export const SILENCE_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** The hash of silences, `<prefix>:{alerts}:silences`, under the hash tag of the other alert keys. */
export function silencesKey(prefix: string): string {
  return alertsKeys(prefix).silences;
}

export class RedisSilenceStore implements SilenceStore {
  readonly key: string;
  private readonly warned = new Set<string>();
  private readonly clock: () => number;
  private readonly retentionMs: number;

  constructor(private readonly o: RedisSilenceStoreOptions) {
    this.key = silencesKey(o.prefix);
    this.clock = o.clock ?? Date.now;
    this.retentionMs = o.retentionMs ?? SILENCE_RETENTION_MS;
  }

  /** Stores a validated input (validateSilenceInput) as a new silence with a fresh id. */
  async create(input: SilenceInput): Promise<Silence> {
    const silence: Silence = {
      id: randomUUID(),
      matchers: input.matchers.map((m) => ({ name: m.name, op: m.op, value: m.value })),
      startsAt: input.startsAt,
      endsAt: input.endsAt,
      createdBy: input.createdBy,
      comment: input.comment,
      createdAt: this.clock(),
    };
    await this.call(
      () => this.o.redis.hset(this.key, silence.id, JSON.stringify(silence)),
      `storing silence ${silence.id}`,
    );
    return silence;
  }

  async list(): Promise<Silence[]> {
    return (await this.readAll(this.clock())).live;
  }

  async active(now: number): Promise<Silence[]> {
    return (await this.readAll(now)).live.filter((s) => silenceState(s, now) === 'active');
  }

  async get(id: string): Promise<Silence | undefined> {
    const json = await this.call(() => this.o.redis.hget(this.key, id), `reading silence ${id}`);
    return json === null ? undefined : this.parse(id, json);
  }

  /**
   * Sets endsAt to `now` if the silence was not over yet; a pending one also gets startsAt = now, so it never
   * shows as having been active. Expiring an expired silence changes nothing and returns it as it is.
   */
  async expire(id: string, now: number): Promise<Silence | undefined> {
    const s = await this.get(id);
    if (!s || silenceState(s, now) === 'expired') return s;
    // Read-modify-write without a transaction: nothing else rewrites a silence (there is no update), and two
    // concurrent expiries both write an end of about `now`.
    const ended: Silence = { ...s, startsAt: Math.min(s.startsAt, now), endsAt: now, updatedAt: now };
    await this.call(() => this.o.redis.hset(this.key, id, JSON.stringify(ended)), `expiring silence ${id}`);
    return ended;
  }

  /** Deletes silences that ended more than the retention ago; returns their ids. list() and active() do it too. */
  async gc(now: number): Promise<string[]> {
    return (await this.readAll(now)).collected;
  }

  private async readAll(now: number): Promise<{ live: Silence[]; collected: string[] }> {
    const raw = await this.call(() => this.o.redis.hgetall(this.key), 'reading silences');
    const out: Silence[] = [];
    const old: string[] = [];
    for (const [id, json] of Object.entries(raw)) {
      const s = this.parse(id, json);
      if (!s) continue;
      if (s.endsAt + this.retentionMs <= now) old.push(id);
      else out.push(s);
    }
    if (old.length > 0) {
      // Only silences that ended long ago are deleted, and nothing writes those any more, so deleting what this
      // read saw cannot drop a silence created or changed meanwhile.
      await this.call(
        () => this.o.redis.hdel(this.key, ...old),
        `deleting ${old.length} silences that ended more than ${this.retentionMs} ms ago`,
      );
      this.o.logger?.info({ key: this.key, ids: old }, 'old silences garbage collected');
    }
    out.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
    return { live: out, collected: old };
  }

  private parse(id: string, json: string): Silence | undefined {
    const s = parseSilence(json);
    if (!s || s.id !== id) {
      // Once per entry and store: active() runs every minute, and one line says all there is to say.
      if (!this.warned.has(id)) {
        this.warned.add(id);
        this.o.logger?.warn(
          { key: this.key, field: id },
          'unreadable silence skipped: it mutes nothing; create it again and remove the field with HDEL',
        );
      }
      return undefined;
    }
    return s;
  }

  private async call<T>(fn: () => Promise<T>, context: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new FwError('SILENCE_REDIS', `${context}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

const OPS: ReadonlySet<string> = new Set(MATCH_OPS);

/** A stored silence, checked field by field: entries written by another version or by hand must not crash reads. */
function parseSilence(json: string): Silence | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const s = v as Record<string, unknown>;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (
    typeof s.id !== 'string' ||
    !num(s.startsAt) ||
    !num(s.endsAt) ||
    !num(s.createdAt) ||
    typeof s.createdBy !== 'string' ||
    typeof s.comment !== 'string' ||
    (s.updatedAt !== undefined && !num(s.updatedAt))
  )
    return undefined;
  if (!Array.isArray(s.matchers) || s.matchers.length === 0) return undefined;
  const matchers: Silence['matchers'] = [];
  for (const m of s.matchers as unknown[]) {
    const mm = m as Record<string, unknown> | null;
    if (
      !mm ||
      typeof mm.name !== 'string' ||
      typeof mm.value !== 'string' ||
      typeof mm.op !== 'string' ||
      !OPS.has(mm.op)
    )
      return undefined;
    if (mm.op === '=~' || mm.op === '!~') {
      // A regex that does not compile (under RE2) would throw in the middle of matching every alert.
      if (typeof compileRegex(mm.value) === 'string') return undefined;
    }
    matchers.push({ name: mm.name, op: mm.op as Silence['matchers'][number]['op'], value: mm.value });
  }
  return {
    id: s.id,
    matchers,
    startsAt: s.startsAt as number,
    endsAt: s.endsAt as number,
    createdBy: s.createdBy,
    comment: s.comment,
    createdAt: s.createdAt as number,
    ...(s.updatedAt !== undefined ? { updatedAt: s.updatedAt as number } : {}),
  };
}
