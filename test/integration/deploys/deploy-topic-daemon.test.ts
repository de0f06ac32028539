/**
 * The daemon with a deploy topic: its one Kafka client serves the producer, the events consumer and the deploy
 * marker consumer; a marker on the topic lands in the deploy store, an invalid one is counted by reason.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { eventually, kafkaBrokers, producer, redisUrl, uniqueName, uniquePrefix } from '../../support/env.js';

describe('daemon deploy topic', () => {
  it('stores markers from the topic and counts the invalid ones', async () => {
    const topic = uniqueName('deploys');
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: 'rules',
      FW_INSTANCE_ID: 'test',
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: uniqueName('events'),
      FW_KAFKA_GROUP: uniqueName('g'),
      FW_KAFKA_DEPLOY_TOPIC: topic,
      FW_KAFKA_SESSION_TIMEOUT_MS: '6000',
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => d.stop());
    await d.start();

    // The deploy group starts at the newest offset, so the marker is sent until the consumer has joined and read
    // it; the same marker (same ts) again is a duplicate, so the store ends with one.
    const p = await producer();
    const marker = JSON.stringify({ service: 'payments-service', version: 'v9', ts: Date.now() - 60_000 });
    const rejected = async () =>
      (await d.metrics.deploysRejected.get()).values.find((v) => v.labels.reason === 'not_json')?.value ?? 0;
    let sentAt = 0;
    await eventually(
      async () => {
        if (Date.now() - sentAt >= 1_000) {
          sentAt = Date.now();
          await p.send({
            topic,
            messages: [
              { key: 'bad', value: '{"service":' },
              { key: 'payments-service', value: marker },
            ],
          });
        }
        return (await d.deploys.list()).length === 1 && (await rejected()) > 0 ? true : undefined;
      },
      60_000,
      'the marker stored and the broken one counted',
    );
    expect((await d.deploys.list()).map((x) => `${x.service}@${x.version}`)).toEqual(['payments-service@v9']);
  }, 90_000);
});
