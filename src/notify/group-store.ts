/**
 * The incident groups in Redis (`<prefix>:{alerts}:groups`, field `receiver|groupKey`, value the GroupState JSON).
 * Written only by the fenced alert commit, with the jobs that notify them (plan.ts GroupWrite); read here by the
 * leader when it takes over, so a restarted daemon or another replica continues every group where it stood: one
 * waiting out its group_wait is notified once, when its time comes.
 */
import type { Logger } from '../obs/logger.js';
import { alertsKeys } from '../redis/alert-keys.js';
import type { GroupState } from './grouping.js';

export function parseGroup(json: string): GroupState | undefined {
  try {
    const g = JSON.parse(json) as Partial<GroupState> | null;
    if (
      g &&
      typeof g.receiver === 'string' &&
      typeof g.key === 'string' &&
      typeof g.id === 'string' &&
      typeof g.openedAt === 'number' &&
      g.members &&
      typeof g.members === 'object' &&
      g.headline &&
      typeof g.headline === 'object'
    )
      return g as GroupState;
  } catch {
    // unreadable: reported by the caller
  }
  return undefined;
}

export class GroupStore {
  private readonly key: string;

  constructor(
    private readonly redis: { hgetall(key: string): Promise<Record<string, string>> },
    prefix: string,
    private readonly logger?: Logger,
  ) {
    this.key = alertsKeys(prefix).groups;
  }

  /** Every stored group, by field; an unreadable one is logged and skipped (its alerts form a new group). */
  async load(): Promise<Map<string, GroupState>> {
    const out = new Map<string, GroupState>();
    for (const [field, json] of Object.entries(await this.redis.hgetall(this.key))) {
      const g = parseGroup(json);
      if (g) out.set(field, g);
      else
        this.logger?.warn({ key: this.key, field }, 'unreadable incident group skipped; its alerts start a new group');
    }
    return out;
  }
}
