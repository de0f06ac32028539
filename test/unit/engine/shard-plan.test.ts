import { describe, expect, it } from 'vitest';
import { checkRuleSources } from '../../../src/rules/loader.js';
import type { RuleSet } from '../../../src/rules/rule-set.js';
import { GLOBAL_SHARD, groupShard, shardPlan, shardRuleSet, stateShard } from '../../../src/engine/shard-plan.js';
import { funnelYaml, receiversYaml } from '../../support/shard-rules.js';

function ruleSet(n: number, o: { crossFunnel?: boolean; extra?: string } = {}): RuleSet {
  const sources = Array.from({ length: n }, (_, i) => ({ path: `f${i}.yaml`, text: funnelYaml(`f${i}`) }));
  sources.push({ path: 'receivers.yaml', text: receiversYaml(o) + (o.extra ?? '') });
  const r = checkRuleSources(sources, { requireReceivers: true });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.ruleSet;
}

describe('shardPlan', () => {
  it('gives each funnel a shard of its own plus the global shard when incidents are grouped by funnel', () => {
    const rs = ruleSet(3);
    const plan = shardPlan(rs);
    expect(plan.shards).toEqual(['f0', 'f1', 'f2', GLOBAL_SHARD].sort());
    expect(plan.merged).toEqual([]);
    expect(shardRuleSet(plan, rs, 'f1').rules.map((r) => r.name)).toEqual(['f1-volume']);
    expect(shardRuleSet(plan, rs, 'f1').funnels.map((f) => f.name)).toEqual(['f1']);
    expect(shardRuleSet(plan, rs, GLOBAL_SHARD).rules).toEqual([]);
  });

  it('puts the funnels of a receiver whose group_by leaves out funnel into one shard, and says why', () => {
    const rs = ruleSet(3, { crossFunnel: true });
    const plan = shardPlan(rs);
    expect(plan.shards).toEqual(['f0+f1+f2', GLOBAL_SHARD].sort());
    expect(plan.merged).toEqual([{ shard: 'f0+f1+f2', receivers: ['hook'] }]);
    expect(shardRuleSet(plan, rs, 'f0+f1+f2').rules).toHaveLength(3);
  });

  it('owns each alert state and group by its funnel; states of removed rules and gone funnels go to global', () => {
    const plan = shardPlan(ruleSet(2));
    expect(stateShard(plan, { rule: 'f1-volume' })).toBe('f1');
    expect(stateShard(plan, { rule: 'f0/data_stale' })).toBe('f0');
    expect(stateShard(plan, { rule: 'removed-rule' })).toBe(GLOBAL_SHARD);
    expect(stateShard(plan, { rule: 'gone/no_traffic' })).toBe(GLOBAL_SHARD);
    const headline = (funnel: string) => ({ funnel }) as Parameters<typeof groupShard>[1]['headline'];
    expect(groupShard(plan, { labels: { funnel: 'f0' }, headline: headline('f0') })).toBe('f0');
    expect(groupShard(plan, { labels: { severity: 'warning' }, headline: headline('f1') })).toBe('f1');
    expect(groupShard(plan, { labels: { funnel: 'gone' }, headline: headline('gone') })).toBe(GLOBAL_SHARD);
  });
});
