/**
 * Small facts a receiver learns and must keep across restarts and replicas (a Slack channel's id for the `#name`
 * it is configured with): notify's edge onto Redis, so receivers get two calls instead of a Redis client. One hash,
 * `<prefix>:{alerts}:receiver-facts`, field `<receiver>|<fact>`; a handful of fields per receiver, no expiry.
 */
import { alertsKeys } from '../redis/alert-keys.js';

export interface ReceiverFacts {
  /** The fact, or undefined when never learnt. Throws when Redis cannot be read (callers decide what that costs). */
  get(receiver: string, fact: string): Promise<string | undefined>;
  set(receiver: string, fact: string, value: string): Promise<void>;
}

export class RedisReceiverFacts implements ReceiverFacts {
  private readonly key: string;

  constructor(
    private readonly redis: {
      hget(key: string, field: string): Promise<string | null>;
      hset(key: string, field: string, value: string): Promise<unknown>;
    },
    prefix: string,
  ) {
    this.key = alertsKeys(prefix).receiverFacts;
  }

  async get(receiver: string, fact: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key, `${receiver}|${fact}`)) ?? undefined;
  }

  async set(receiver: string, fact: string, value: string): Promise<void> {
    await this.redis.hset(this.key, `${receiver}|${fact}`, value);
  }
}
