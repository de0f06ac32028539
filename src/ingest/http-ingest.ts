/**
 * POST /v1/events: a JSON array (or one object) or NDJSON of events in any accepted envelope. Every event is
 * validated here and the answer says, per rejected event, why; valid ones go on:
 *   - with Kafka configured, produced to the events topic keyed by entity (one code path into the windows: the
 *     consumer applies them like any other event);
 *   - without Kafka, handed to the same batch handler the consumer uses, as a stream of its own
 *     (`http-<instance>`) with offsets this replica assigns, serialised so they stay in order.
 * Rejected events are not forwarded anywhere: the caller holds them and learns why in the response.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Producer } from 'kafkajs';
import type { Clock } from '../core/clock.js';
import { checkDecodedEvent, parseEvent, type ParseOptions, type ParseResult } from '../events/parse.js';
import type { Metrics } from '../obs/metrics.js';
import type { FunnelDef } from '../funnels/funnel.js';
import { bearerAuth } from '../core/bearer-auth.js';
import type { BatchHandler, SourceMessage } from './event-source.js';
import type { ApplyPort } from './pipeline.js';
import { FwError, errorMessage } from '../core/errors.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan, tooDeepMessage } from '../core/json-depth.js';

export interface IngestTarget {
  /** Takes validated events, each with the JSON text to forward. Resolves when they are durable. */
  accept(items: { entity: string; json: string }[]): Promise<void>;
}

export class KafkaIngestTarget implements IngestTarget {
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}
  async accept(items: { entity: string; json: string }[]): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: items.map((i) => ({ key: i.entity || null, value: i.json })),
      });
    } catch (err) {
      // 503: nothing was accepted for certain; the caller should send the batch again.
      throw new FwError(
        'INGEST_KAFKA_UNAVAILABLE',
        `could not produce to ${this.topic}: ${errorMessage(err)}; send the batch again`,
        { cause: err },
      );
    }
  }
}

export class DirectIngestTarget implements IngestTarget {
  private next: number | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly handler: BatchHandler,
    private readonly store: ApplyPort,
    private readonly funnels: () => readonly FunnelDef[],
    private readonly streamId: string,
  ) {}

  accept(items: { entity: string; json: string }[]): Promise<void> {
    // One request at a time per replica: offsets must reach the store in the order they were assigned.
    const run = this.chain.then(() => this.applyNow(items));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async applyNow(items: { entity: string; json: string }[]): Promise<void> {
    if (items.length === 0) return;
    if (this.next === null) {
      let max = -1;
      for (const f of this.funnels())
        max = Math.max(max, (await this.store.getOffsets(f, [this.streamId])).get(this.streamId) ?? -1);
      this.next = max + 1;
    }
    const first = this.next;
    const messages: SourceMessage[] = items.map((it, i) => ({
      offset: String(first + i),
      key: Buffer.from(it.entity),
      value: Buffer.from(it.json),
      timestamp: '0',
    }));
    await this.handler({
      topic: 'http',
      partition: 0,
      partitionId: this.streamId,
      messages,
      highWatermark: String(first + items.length),
      heartbeat: async () => {},
      isActive: () => true,
    });
    this.next = first + items.length;
  }
}

export interface HttpIngestOptions {
  target: IngestTarget;
  token: string;
  parse: Omit<ParseOptions, 'now'>;
  clock: Clock;
  metrics: Metrics;
}

/** One decoded event with the text forwarded for it, checked as the consumer will check that text. */
function checked(item: unknown, opts: ParseOptions): { r: ParseResult; json: string } {
  const json = JSON.stringify(item) ?? 'null';
  return { r: checkDecodedEvent(item, json, opts), json };
}

const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];

export function httpIngestRoutes(opts: HttpIngestOptions): FastifyPluginAsync {
  return async (app) => {
    app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'string' }, (_req, body, done) =>
      // Lines are balanced in valid NDJSON, so the depth of the whole text is the deepest line's.
      jsonNestsDeeperThan(body as string, MAX_JSON_DEPTH)
        ? done(new FwError('BAD_REQUEST', tooDeepMessage(MAX_JSON_DEPTH)), undefined)
        : done(null, { ndjson: body as string }),
    );

    // onRequest, not preHandler: a request without the token is refused before its body is read and parsed.
    app.addHook('onRequest', bearerAuth(opts.token));

    app.post('/v1/events', async (req, reply) => {
      const now = opts.clock.now();
      const parseOpts: ParseOptions = { ...opts.parse, now };
      // The original JSON of each event is what travels on: the consumer parses it again with the same options.
      const results: { r: ParseResult; json: string }[] = [];
      const body = req.body as unknown;
      if (
        body &&
        typeof body === 'object' &&
        'ndjson' in (body as object) &&
        typeof (body as { ndjson: unknown }).ndjson === 'string'
      ) {
        for (const line of (body as { ndjson: string }).ndjson.split('\n')) {
          if (line.trim() === '') continue;
          results.push({ r: parseEvent(line, parseOpts), json: line });
        }
      } else if (Array.isArray(body)) {
        for (const item of body) results.push(checked(item, parseOpts));
      } else if (body && typeof body === 'object') {
        results.push(checked(body, parseOpts));
      } else {
        return reply.code(400).send({
          error: 'BAD_REQUEST',
          message: 'send a JSON array of events, one event object, or NDJSON (Content-Type: application/x-ndjson)',
        });
      }
      if (results.length === 0)
        return reply.code(400).send({ error: 'BAD_REQUEST', message: 'the request holds no events' });

      const accepted: { entity: string; json: string }[] = [];
      const errors: { index: number; reason: string; detail: string }[] = [];
      results.forEach(({ r, json }, index) => {
        if (r.ok) accepted.push({ entity: r.event.entity, json });
        else {
          errors.push({ index, reason: r.reason, detail: r.detail });
          opts.metrics.eventsRejected.inc({ reason: r.reason });
        }
      });
      await opts.target.accept(accepted);
      return reply.code(200).send({ accepted: accepted.length, rejected: errors.length, errors });
    });
  };
}
