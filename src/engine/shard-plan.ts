/**
 * Which evaluation shard (engine/shards.ts) owns what, computed alike on every replica from the rule set alone.
 *
 * - One shard per funnel, named after it, except where incident groups cross funnels: a receiver's `group_by`
 *   (or a rule's own) that leaves out `funnel` (and is not `...`) groups alerts of several funnels into one
 *   incident. Such a group's state is read and written by one evaluator only, so the funnels whose alerts can meet
 *   in it share one shard, named by its funnels joined with `+` (`checkout+signup`). Funnel names cannot contain
 *   `+` or `~`, so shard names never clash.
 * - The shard `~global` evaluates no rule: it retires the alert states whose rule left the rule files (and
 *   whose funnel's guard is gone too) and the incident groups whose funnel is gone. Every such state has exactly
 *   one owner, so a removed rule is resolved and deleted once.
 * - An alert state belongs to the shard of its rule's funnel (a guard `<funnel>/data_stale` to its funnel's);
 *   an incident group to the shard of its `funnel` label, else of its headline alert's funnel.
 */
import type { AlertState } from '../model/alert-state.js';
import type { GroupState } from '../notify/grouping.js';
import { receiverGrouping } from '../notify/grouping.js';
import { BUILTIN_CONSOLE } from '../rules/receiver-def.js';
import type { RuleSet } from '../rules/rule-set.js';

export const GLOBAL_SHARD = '~global';

export interface ShardPlan {
  /** Every shard, sorted, `~global` included. */
  shards: string[];
  /** The shard of each funnel that has rules. */
  shardOf: Map<string, string>;
  /** The funnel of each rule. */
  ruleFunnel: Map<string, string>;
  /** Shards of several funnels, with the receivers that forced each merge (for the log). */
  merged: { shard: string; receivers: string[] }[];
}

/** Whether alerts grouped under `groupBy` can share a group across funnels. */
function crossesFunnels(groupBy: readonly string[]): boolean {
  return !groupBy.includes('funnel') && !groupBy.includes('...');
}

export function shardPlan(ruleSet: RuleSet): ShardPlan {
  const receivers = new Map([BUILTIN_CONSOLE, ...ruleSet.receivers].map((r) => [r.name, r]));
  const funnels = [...new Set(ruleSet.rules.map((r) => r.funnel))].sort();
  // Per receiver, the funnels whose alerts it groups without the funnel label.
  const crossing = new Map<string, Set<string>>();
  const note = (receiver: string, funnel: string) => {
    let s = crossing.get(receiver);
    if (!s) crossing.set(receiver, (s = new Set()));
    s.add(funnel);
  };
  for (const rule of ruleSet.rules) {
    for (const r of rule.notify) {
      const own = receiverGrouping(receivers.get(r), 0).groupBy;
      // The funnel's guards notify the rule's receivers with the receiver's grouping; the rule with its own.
      if (crossesFunnels(own)) note(r, rule.funnel);
      if (rule.groupBy && crossesFunnels(rule.groupBy)) note(r, rule.funnel);
    }
  }
  // Union-find over funnels: every funnel a crossing receiver groups goes into one shard.
  const parent = new Map(funnels.map((f) => [f, f]));
  const find = (f: string): string => {
    let p = parent.get(f)!;
    while (p !== parent.get(p)) p = parent.get(p)!;
    parent.set(f, p);
    return p;
  };
  const why = new Map<string, Set<string>>();
  for (const [receiver, fs] of crossing) {
    const [first, ...rest] = [...fs];
    for (const f of rest) {
      const a = find(first!),
        b = find(f);
      if (a !== b) parent.set(b < a ? a : b, b < a ? b : a);
    }
    if (fs.size > 1) {
      const root = find(first!);
      why.set(root, new Set([...(why.get(root) ?? []), receiver]));
    }
  }
  const members = new Map<string, string[]>();
  for (const f of funnels) members.set(find(f), [...(members.get(find(f)) ?? []), f]);
  const shardOf = new Map<string, string>();
  const merged: ShardPlan['merged'] = [];
  for (const [root, fs] of members) {
    const name = fs.join('+');
    for (const f of fs) shardOf.set(f, name);
    if (fs.length > 1) {
      // A receiver that crossed funnels already merged may not be recorded at the final root: gather them all.
      const rs = new Set<string>();
      for (const [r, set] of crossing) if ([...set].some((f) => fs.includes(f)) && set.size > 1) rs.add(r);
      for (const r of why.get(root) ?? []) rs.add(r);
      merged.push({ shard: name, receivers: [...rs].sort() });
    }
  }
  const shards = [...new Set(shardOf.values()), GLOBAL_SHARD].sort();
  return { shards, shardOf, merged, ruleFunnel: new Map(ruleSet.rules.map((r) => [r.name, r.funnel])) };
}

/** The shard that owns an alert state: its rule's funnel's, its guard's funnel's, else the global shard. */
export function stateShard(plan: ShardPlan, state: Pick<AlertState, 'rule'>): string {
  let funnel = plan.ruleFunnel.get(state.rule);
  if (funnel === undefined) funnel = /^(.*)\/(data_stale|no_traffic)$/.exec(state.rule)?.[1];
  return (funnel !== undefined && plan.shardOf.get(funnel)) || GLOBAL_SHARD;
}

/** The shard that owns an incident group. */
export function groupShard(plan: ShardPlan, group: Pick<GroupState, 'labels' | 'headline'>): string {
  const funnel = group.labels.funnel || group.headline.funnel;
  return plan.shardOf.get(funnel) ?? GLOBAL_SHARD;
}

/** The part of a rule set one shard evaluates (its funnels and their rules; the global shard: none). */
export function shardRuleSet(plan: ShardPlan, ruleSet: RuleSet, shard: string): RuleSet {
  const rules = ruleSet.rules.filter((r) => plan.shardOf.get(r.funnel) === shard);
  const names = new Set(rules.map((r) => r.funnel));
  return { ...ruleSet, rules, funnels: ruleSet.funnels.filter((f) => names.has(f.name)) };
}
