/**
 * Starts the real components every integration test talks to, on loopback and free ports, and stops them at the
 * end: a redis-server, a 3-node Redis Cluster and a 3-broker Kafka-protocol cluster (kcat's librdkafka mock).
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer, startRedisCluster } from '../../src/devenv/redis-server.js';
import { startMockKafka } from '../../src/devenv/mock-kafka.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisClusterNodes: { host: string; port: number }[];
    kafkaBrokers: string[];
  }
}

export default async function setup(project: TestProject) {
  const [redis, cluster, kafka] = await Promise.all([startRedisServer(), startRedisCluster(3), startMockKafka(3)]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterNodes', cluster.nodes);
  project.provide('kafkaBrokers', kafka.brokers);
  return async () => {
    await Promise.all([redis.stop(), cluster.stop(), kafka.stop()]);
  };
}
