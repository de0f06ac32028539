/**
 * `funnelwatch kafka reset-checkpoints [--topic T] [--yes]`: accepts a Kafka log whose offsets started again (a new
 * broker or a re-created topic, with the same Redis). The window store records, per funnel and partition, the last
 * offset applied (the `o` field of the partition's meta hash, windows/key-layout.ts); this clears it for every funnel
 * of the rule set and every Kafka partition (numeric partition ids; direct HTTP ingest's `http-<instance>` streams are
 * left alone). Counts, watermarks and entity states stay. A daemon whose partitions wait on an offset regression
 * (ingest/offset-regressions.ts) applies them on its next retry, within seconds, without a restart.
 *
 * Without --yes it only prints what it would clear. Offsets are recorded per partition number: with several topics
 * in FW_KAFKA_TOPICS they share them, so --topic checks the name but the reset covers those partition numbers for
 * every topic.
 */
import { createRedisClient } from '../redis/client.js';
import { errorMessage } from '../core/errors.js';
import { loadRuleDir } from '../rules/loader.js';
import { KeyLayout } from '../windows/key-layout.js';
import { RedisWindowStore } from '../windows/redis-window-store.js';

export interface ResetCheckpointsOptions {
  redisUrl: string;
  redisCluster: boolean;
  prefix: string;
  rulesDir: string;
  /** FW_KAFKA_TOPICS. */
  kafkaTopics: readonly string[];
  topic?: string;
  yes: boolean;
}

export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Returns the exit code: 0 done (or nothing to do), 1 a failure, 2 bad usage. */
export async function runResetCheckpoints(o: ResetCheckpointsOptions, io: CommandIo): Promise<number> {
  const what = 'funnelwatch kafka reset-checkpoints';
  if (o.topic !== undefined && !o.kafkaTopics.includes(o.topic)) {
    io.err(`${what}: --topic ${o.topic} is not one of FW_KAFKA_TOPICS (${o.kafkaTopics.join(', ')})`);
    return 2;
  }
  const rules = await loadRuleDir(o.rulesDir);
  if (!rules.ok) {
    io.err(`${what}: the rules in ${o.rulesDir} do not validate (see \`funnelwatch validate\`); nothing cleared`);
    return 1;
  }
  const redis = createRedisClient({ url: o.redisUrl, cluster: o.redisCluster, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const store = new RedisWindowStore({ redis, prefix: o.prefix });
    const keys = new KeyLayout(o.prefix);
    const found: { funnel: string; partition: string; offset: number }[] = [];
    for (const f of rules.ruleSet.funnels) {
      const parts = (await store.partitions(f)).filter((p) => /^\d+$/.test(p));
      for (const [partition, offset] of await store.getOffsets(f, parts))
        if (offset !== undefined) found.push({ funnel: f.name, partition, offset });
    }
    if (found.length === 0) {
      io.out('no Kafka checkpoints stored: nothing to clear');
      return 0;
    }
    for (const c of found) io.out(`funnel ${c.funnel} partition ${c.partition}: applied up to offset ${c.offset}`);
    if (!o.yes) {
      io.out(`dry run: ${found.length} checkpoint(s) would be cleared; run again with --yes to clear them`);
      return 0;
    }
    for (const c of found) await redis.hdel(keys.meta(c.funnel, c.partition), 'o');
    io.out(`cleared ${found.length} checkpoint(s): the next events of these partitions are applied whatever offset`);
    return 0;
  } catch (err) {
    io.err(`${what}: ${errorMessage(err)}`);
    return 1;
  } finally {
    redis.disconnect();
  }
}
