import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One redis-server, one Redis Cluster and one Kafka-protocol cluster for the whole run, started on free loopback
    // ports; every test isolates itself with its own key prefix, topic and consumer group (test/support/env.ts).
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2 cores: integration tests spawn child daemons and brokers; too many files at once starve them.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
