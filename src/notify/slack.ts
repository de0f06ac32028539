/**
 * The Slack receiver: one message per incident group, kept current. `firing` posts it; `updated` and `resolved` edit it
 * (chat.update) and add a thread reply; `reminder` only replies in the thread; `delivery_failed` (a self-alert)
 * posts a message of its own, which `delivery_recovered` updates and replies to. The outbox keeps the message's
 * channel id and ts in the incident's DeliveryRecord.
 *
 * The outbox is the one retry mechanism (durable, with backoff, honouring Retry-After), so the WebClient is built
 * to never retry or sleep: `retries: 0` and `rejectRateLimitedCalls` (its default would block a delivery for up to
 * ~30 minutes and pause every call on the client during a 429). This receiver only classifies what Slack
 * answered into ok / retriable / permanent, with an actionable reason for configuration errors.
 *
 * When the incident's message cannot be edited or replied to (deleted, edit window closed, thread locked), the
 * news is posted as a new top-level message and, when it replaces the parent, its handle is returned as the new
 * record, so later updates go to the message people can see.
 *
 * No second post after a lost answer. chat.postMessage has no idempotency key: when a post reached Slack but its
 * answer did not reach us (a timeout, a dropped connection, a 5xx from a proxy), the outbox retries the job and a
 * plain retry would post it twice. So every post carries the job's id in its message metadata, and a retried job
 * (attempt > 0) first looks for a message with that id (conversations.history, or conversations.replies for a
 * thread reply) and takes it instead of posting; so does a job taken over from a worker that died before settling
 * it (`takenOver`). The lookup needs the channel's id: configured as one, or, for a `#name`, learnt from the first
 * answered post or from conversations.list (channels:read) and kept in Redis (receiver-facts.ts), so it still works
 * after a restart; and the channels:history scope (groups:history for a private channel). Without them the retry
 * posts, a duplicate is possible, and the receiver warns once saying what to add. A reply whose parent was deleted
 * is posted top-level by Slack with ok: true, so a reply is looked for top-level too when not found in its thread.
 */
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type ChatPostMessageArguments,
  type ChatUpdateArguments,
  type Logger as SlackLogger,
} from '@slack/web-api';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import type { SlackReceiverDef } from '../rules/receiver-def.js';
import type { DeliveryJob, DeliveryOutcome, DeliveryRecord, Receiver, SlackRecord } from './receiver.js';
import { describeSecret, readSecret } from '../core/secrets.js';
import { slackMessage, slackThreadReply, type SlackMessage, type SlackMessageOptions } from './slack-message.js';
import { truncateCodePoints } from '../core/text.js';
import type { ReceiverFacts } from './receiver-facts.js';

export interface SlackReceiverOptions {
  def: SlackReceiverDef;
  /** Slack Web API base; tests point it at a loopback fake. Default https://slack.com/api/. */
  apiUrl?: string;
  /** Per-request timeout; default 10,000 ms. */
  timeoutMs?: number;
  logger: Logger;
  /** Where `{ env: … }` secrets are read; default process.env. */
  env?: Record<string, string | undefined>;
  /** Dashboard link template for the message; `{funnel}`, `{rule}`, `{segment}` are filled in. */
  dashboardUrl?: string;
  /** Minimum spacing of posts to one channel (Slack allows about 1 per second); default 1000 ms. */
  postIntervalMs?: number;
  /** Where the channel's id is kept for its #name, across restarts and replicas; without it, in memory only. */
  facts?: ReceiverFacts;
}

/** The receiver fact holding the id of a channel configured by #name. */
function channelFact(channel: string): string {
  return `channel-id|${channel}`;
}

type Platform = { error: string; needed?: string; errors?: string[]; response_metadata?: { retryAfter?: number } };

/** Platform errors that say "try again later". */
const RETRIABLE_PLATFORM = new Set([
  'ratelimited',
  'rate_limited',
  'message_limit_exceeded',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/** Errors about the message's shape: retried once as plain text. */
const BAD_SHAPE = new Set([
  'invalid_blocks',
  'invalid_blocks_format',
  'msg_too_long',
  'msg_blocks_too_long',
  'too_many_attachments',
]);

/** chat.update errors that mean the message cannot be edited any more: post a new one instead. */
const UPDATE_GONE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed', 'is_inactive']);

/** Thread-reply errors that mean the thread cannot take replies: post top-level instead. */
const THREAD_CLOSED = new Set([
  'cannot_reply_to_message',
  'restricted_action_thread_locked',
  'restricted_action_non_threadable_channel',
  'thread_not_found',
  'message_not_found',
]);

/** Message metadata event type that carries the id of the delivery job that posted a message. */
const SLACK_METADATA_EVENT = 'funnelwatch_delivery';

/** A Slack conversation id (public or private channel, DM, group DM), as opposed to a #name. */
const CHANNEL_ID = /^[CGD][A-Z0-9]{6,}$/;

/** Messages a retried job's lookup reads: one page, the newest first. A busier channel could hide the message. */
const LOOKUP_LIMIT = 200;

/** Slack's clock and ours may differ: the lookup starts this long before the job was made. */
const LOOKUP_SLACK_MS = 60_000;

/** Pages of conversations.list read to find a channel by name (1000 channels each). */
const LIST_PAGES = 10;

/** The most a post waits for its channel's turn: pacing, not queueing (the outbox does the waiting). */
const MAX_GATE_WAIT_MS = 1000;

/** What to do about a permanent platform error, for the operator reading the self-alert. */
function permanentReason(error: string, d: Platform, channel: string, secret: string): string {
  switch (error) {
    case 'invalid_auth':
      return `Slack rejected the bot token (invalid_auth): check the token in ${secret}`;
    case 'not_authed':
      return `no bot token reached Slack (not_authed): set ${secret}`;
    case 'token_revoked':
    case 'token_expired':
      return (
        `the bot token was ${error === 'token_revoked' ? 'revoked' : 'expired'}: ` +
        `reinstall the Slack app and put the new xoxb- token in ${secret}`
      );
    case 'account_inactive':
      return (
        `the token belongs to a deactivated user or app (account_inactive): ` + `reinstall the app and update ${secret}`
      );
    case 'missing_scope':
      return (
        `the token lacks a scope${d.needed ? ` (needs ${d.needed})` : ''}: ` +
        `add chat:write in the app's OAuth settings and reinstall it`
      );
    case 'channel_not_found':
      return (
        `channel ${channel} not found: use the channel id (e.g. C0123ABCD); ` +
        `for a private channel invite the bot with /invite @yourbot`
      );
    case 'not_in_channel':
      return `the bot is not in ${channel}: invite the bot with /invite @yourbot or add the chat:write.public scope`;
    case 'is_archived':
      return `channel ${channel} is archived: unarchive it or point the receiver at another channel`;
    case 'restricted_action':
    case 'restricted_action_read_only_channel':
      return (
        `workspace settings do not let the bot post in ${channel} (${error}): ` +
        `ask a Slack admin or use another channel`
      );
    case 'invalid_blocks':
    case 'invalid_blocks_format':
    case 'msg_too_long':
    case 'msg_blocks_too_long':
    case 'no_text':
    case 'invalid_arguments':
      return (
        `Slack refused the message layout (${error}${d.errors?.length ? `: ${d.errors.join('; ')}` : ''}): ` +
        `a funnelwatch bug, please report it`
      );
    default:
      return `Slack refused the call (${error})`;
  }
}

/**
 * One Slack failure as an outcome. Pure, so the mapping is testable without a server: the SDK's error classes say
 * whether HTTP, the network, a 429 or Slack itself answered.
 */
export function classifySlackError(
  err: unknown,
  ctx: { method: string; channel: string; secret: string; timeoutMs: number },
): DeliveryOutcome {
  if (err instanceof WebAPIRateLimitedError) {
    return {
      ok: false,
      retriable: true,
      code: 'SLACK_RATE_LIMITED',
      reason: `${ctx.method}: rate limited, retry after ${err.retryAfter} s`,
      retryAfterMs: err.retryAfter * 1000,
    };
  }
  if (err instanceof WebAPIHTTPError) {
    const status = err.statusCode;
    const reason = `${ctx.method}: HTTP ${status} ${err.statusMessage}`.trim();
    // Slack's Web API answers 200 or 429 only: another 4xx comes from a proxy or a wrong API URL, and the same
    // request gets the same answer for as long as that lasts. Permanent, so someone hears of it now, not after
    // hours of retries; 408 and 5xx are transient.
    if (status >= 400 && status < 500 && status !== 408) {
      return {
        ok: false,
        retriable: false,
        code: `SLACK_HTTP_${status}`,
        reason:
          `${reason}: not Slack's answer (Slack's API answers 200 or 429); ` +
          'check the proxy between funnelwatch and slack.com, or FW_SLACK_API_URL',
      };
    }
    return { ok: false, retriable: true, code: `SLACK_HTTP_${status}`, reason };
  }
  if (err instanceof WebAPIRequestError) {
    const name = err.original?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return {
        ok: false,
        retriable: true,
        code: 'SLACK_TIMEOUT',
        reason: `${ctx.method}: no answer from Slack within ${ctx.timeoutMs} ms`,
      };
    }
    const cause = (err.original as { cause?: unknown } | undefined)?.cause;
    const detail = cause instanceof Error ? `${err.original.message}: ${cause.message}` : errorMessage(err.original);
    return { ok: false, retriable: true, code: 'SLACK_NETWORK', reason: `${ctx.method}: ${detail}` };
  }
  if (err instanceof WebAPIPlatformError) {
    const d = err.data as Platform;
    const error = typeof d.error === 'string' && d.error !== '' ? d.error : 'unknown_error';
    const code = `SLACK_${error.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
    if (RETRIABLE_PLATFORM.has(error)) {
      const after = d.response_metadata?.retryAfter;
      return {
        ok: false,
        retriable: true,
        code,
        reason: `${ctx.method}: Slack answered ${error}`,
        ...(typeof after === 'number' && after > 0 ? { retryAfterMs: after * 1000 } : {}),
      };
    }
    return { ok: false, retriable: false, code, reason: permanentReason(error, d, ctx.channel, ctx.secret) };
  }
  // A 429 without a usable Retry-After reaches us as a plain Error (the SDK aborts without a class of its own).
  if (err instanceof Error && /rate limit|Retry header/i.test(err.message)) {
    return { ok: false, retriable: true, code: 'SLACK_RATE_LIMITED', reason: `${ctx.method}: ${err.message}` };
  }
  return { ok: false, retriable: true, code: 'SLACK_UNEXPECTED', reason: `${ctx.method}: ${errorMessage(err)}` };
}

function platformError(err: unknown): string | undefined {
  return err instanceof WebAPIPlatformError ? (err.data as Platform).error : undefined;
}

/** The SDK's logger interface onto pino, so it never prints to the console on its own. */
function slackLogger(log: Logger): SlackLogger {
  const text = (msg: unknown[]): string => msg.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  return {
    debug: (...msg: unknown[]) => log.debug(text(msg)),
    info: (...msg: unknown[]) => log.info(text(msg)),
    warn: (...msg: unknown[]) => log.warn(text(msg)),
    error: (...msg: unknown[]) => log.error(text(msg)),
    // pino's level is the one setting; the SDK's calls to change it are ignored.
    setLevel: () => {},
    getLevel: () => {
      const l = log.level;
      return l === 'debug' || l === 'trace'
        ? LogLevel.DEBUG
        : l === 'info'
          ? LogLevel.INFO
          : l === 'warn'
            ? LogLevel.WARN
            : LogLevel.ERROR;
    },
    setName: () => {},
  };
}

/** Thrown inside deliver to leave through one classification point with the method that failed. */
class CallFailed {
  constructor(
    readonly method: string,
    readonly err: unknown,
  ) {}
}

export class SlackReceiver implements Receiver {
  readonly name: string;
  readonly kind = 'slack' as const;
  private readonly log: Logger;
  private readonly apiUrl: string;
  private readonly timeoutMs: number;
  private readonly postIntervalMs: number;
  private readonly msgOpts: SlackMessageOptions;
  /** One client per token value: a rotated secret gets a fresh client, and the old one is dropped. */
  private client: { token: string; web: WebClient } | undefined;
  /** Per channel: the earliest time the next post may go. */
  private readonly nextPostAt = new Map<string, number>();
  /** The reason a retried job could not look for its earlier post was logged (once per reason). */
  private readonly lookupWarned = new Set<string>();
  /** The configured channel (maybe a #name) → the id Slack answered with, so pacing keys one channel once. */
  private readonly channelIds = new Map<string, string>();

  constructor(private readonly o: SlackReceiverOptions) {
    this.name = o.def.name;
    this.log = o.logger.child({ component: 'notify', receiver: o.def.name, kind: 'slack' });
    this.apiUrl = o.apiUrl ?? 'https://slack.com/api/';
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.postIntervalMs = o.postIntervalMs ?? 1000;
    this.msgOpts = o.dashboardUrl ? { dashboardUrl: o.dashboardUrl } : {};
  }

  async deliver(job: DeliveryJob, prior: DeliveryRecord | undefined): Promise<DeliveryOutcome> {
    let web: WebClient;
    try {
      web = this.webClient(readSecret(this.o.def.token, this.o.env));
    } catch (err) {
      return { ok: false, retriable: false, code: 'SECRET_MISSING', reason: errorMessage(err) };
    }
    const opts: SlackMessageOptions = prior ? { ...this.msgOpts, firedAt: prior.openedAt } : this.msgOpts;
    try {
      return await this.run(web, job, prior?.slack, opts);
    } catch (err) {
      const failed = err instanceof CallFailed ? err : new CallFailed('slack', err);
      const outcome = classifySlackError(failed.err, {
        method: failed.method,
        channel: this.o.def.channel,
        secret: describeSecret(this.o.def.token),
        timeoutMs: this.timeoutMs,
      });
      this.log.debug({ job: job.id, event: job.event, outcome }, 'slack delivery failed');
      return outcome;
    }
  }

  /** Start-up check: the token can be read and Slack accepts it. */
  async check(): Promise<string[]> {
    let token: string;
    try {
      token = readSecret(this.o.def.token, this.o.env);
    } catch (err) {
      return [`slack receiver ${this.name}: ${errorMessage(err)}`];
    }
    try {
      await this.webClient(token).auth.test();
      return [];
    } catch (err) {
      const outcome = classifySlackError(err, {
        method: 'auth.test',
        channel: this.o.def.channel,
        secret: describeSecret(this.o.def.token),
        timeoutMs: this.timeoutMs,
      });
      return outcome.ok ? [] : [`slack receiver ${this.name}: ${outcome.reason}`];
    }
  }

  /** auth.test: Slack is reachable and takes the token (it says nothing about the channel). */
  async probe(): Promise<DeliveryOutcome> {
    try {
      await this.webClient(readSecret(this.o.def.token, this.o.env)).auth.test();
      return { ok: true };
    } catch (err) {
      return this.classify('auth.test', err);
    }
  }

  async close(): Promise<void> {
    this.client = undefined;
  }

  private async run(
    web: WebClient,
    job: DeliveryJob,
    parent: SlackRecord | undefined,
    opts: SlackMessageOptions,
  ): Promise<DeliveryOutcome> {
    if (job.event === 'gate_verdict') {
      await this.postOnce(web, job, this.o.def.channel, this.message(job, slackMessage(job, opts)));
      return { ok: true };
    }
    if (job.event === 'delivery_failed') {
      // Recorded, so the self-alert's recovery can turn this message green.
      const posted = await this.postOnce(web, job, this.o.def.channel, this.message(job, slackMessage(job, opts)));
      return { ok: true, record: { slack: posted } };
    }
    if (job.event === 'delivery_recovered') {
      const m = this.message(job, slackMessage(job, opts));
      if (!parent) return { ok: true, record: { slack: await this.postOnce(web, job, this.o.def.channel, m) } };
      const { record, reposted } = await this.updateOrRepost(web, job, parent, m);
      if (!reposted) await this.replyOrPost(web, job, record, m, true);
      return { ok: true, record: { slack: record } };
    }
    const full = (): SlackMessage => this.message(job, slackMessage(job, opts));
    // Without the incident's message (or for a firing job), the parent message is the whole news.
    if (!parent) return { ok: true, record: { slack: await this.postOnce(web, job, this.o.def.channel, full()) } };
    if (job.event === 'firing') {
      // A retried firing job whose post was already recorded: refresh it rather than post twice.
      return { ok: true, record: { slack: (await this.updateOrRepost(web, job, parent, full())).record } };
    }
    if (job.event === 'reminder') {
      await this.replyOrPost(web, job, parent, this.message(job, slackThreadReply(job, opts)), false);
      return { ok: true, record: { slack: parent } };
    }
    // updated / resolved: the parent shows the group as it stands now; the thread says what changed.
    const { record, reposted } = await this.updateOrRepost(web, job, parent, full());
    if (!reposted)
      await this.replyOrPost(
        web,
        job,
        record,
        this.message(job, slackThreadReply(job, opts)),
        job.event === 'resolved',
      );
    return { ok: true, record: { slack: record } };
  }

  /**
   * post() for a job, except that a retried job first looks for the message an earlier attempt may have posted
   * (see the module comment) and returns that one instead of posting again.
   */
  private async postOnce(
    web: WebClient,
    job: DeliveryJob,
    channel: string,
    m: SlackMessage,
    thread?: { ts: string; broadcast: boolean },
  ): Promise<SlackRecord> {
    if (job.attempt > 0 || job.takenOver) {
      const found = await this.findPosted(web, job, channel, thread?.ts);
      if (found) {
        this.log.info(
          { job: job.id, event: job.event, channel: found.channel, ts: found.ts, thread: thread?.ts },
          'an earlier attempt of this job did post (its answer was lost); not posting again',
        );
        return found;
      }
    }
    return this.post(web, channel, m, thread, job.id);
  }

  /**
   * The message carrying `job`'s id in its metadata, in the channel (or in the thread of `threadTs`), posted since
   * shortly before the job was made; undefined when there is none or it cannot be looked for. Slack answering
   * "later" (429, 5xx, network) fails the attempt, so the outbox retries it then: posting without knowing could
   * duplicate the message. A reply whose parent was deleted was posted top-level by Slack (ok: true, un-threaded),
   * so a reply not found in its thread is looked for among the channel's top-level messages too.
   */
  private async findPosted(
    web: WebClient,
    job: DeliveryJob,
    channel: string,
    threadTs?: string,
  ): Promise<SlackRecord | undefined> {
    const id = await this.channelId(web, channel);
    if (!id) {
      this.warnNoLookup(
        'name',
        { channel },
        `cannot check whether an earlier attempt already posted: channel ${channel} is configured by name ` +
          `and its id is not known yet (conversations.list needs the channels:read scope); a retried job may post ` +
          `twice (configure the channel by id, e.g. C0123ABCD)`,
      );
      return undefined;
    }
    const oldest = ((job.createdAt - LOOKUP_SLACK_MS) / 1000).toFixed(6);
    if (threadTs) {
      const inThread = await this.lookup(web, job, channel, id, oldest, threadTs);
      if (inThread !== 'none') return inThread;
    }
    const top = await this.lookup(web, job, channel, id, oldest);
    return top === 'none' ? undefined : top;
  }

  /**
   * One lookup: conversations.replies of `threadTs`, or conversations.history. 'none' when it answered without the
   * message (or the thread is gone); undefined when it could not look (a missing scope, warned once).
   */
  private async lookup(
    web: WebClient,
    job: DeliveryJob,
    channel: string,
    id: string,
    oldest: string,
    threadTs?: string,
  ): Promise<SlackRecord | 'none' | undefined> {
    const method = threadTs ? 'conversations.replies' : 'conversations.history';
    let messages: { ts?: string; metadata?: { event_type?: string; event_payload?: unknown } }[] | undefined;
    try {
      const res = threadTs
        ? await web.conversations.replies({
            channel: id,
            ts: threadTs,
            oldest,
            include_all_metadata: true,
            limit: LOOKUP_LIMIT,
          })
        : await web.conversations.history({ channel: id, oldest, include_all_metadata: true, limit: LOOKUP_LIMIT });
      messages = res.messages;
    } catch (err) {
      const outcome = this.classify(method, err);
      if (outcome.ok || outcome.retriable) throw new CallFailed(method, err);
      const error = platformError(err) ?? outcome.code;
      // A thread that is gone holds no earlier reply (it may have gone top-level: the caller looks there too).
      if (threadTs && THREAD_CLOSED.has(error)) return 'none';
      const needed =
        error === 'missing_scope'
          ? ` (needs ${((err as WebAPIPlatformError).data as Platform).needed ?? 'channels:history or groups:history'})`
          : '';
      this.warnNoLookup(
        error,
        { channel, error },
        `cannot check whether an earlier attempt already posted: ${method} failed with ${error}${needed}; ` +
          `a retried job may post twice (add channels:history, ` +
          `or groups:history for a private channel, to the Slack app)`,
      );
      return undefined;
    }
    const hit = messages?.find(
      (x) =>
        x.metadata?.event_type === SLACK_METADATA_EVENT &&
        (x.metadata.event_payload as { job?: unknown } | undefined)?.job === job.id,
    );
    return hit?.ts ? { channel: id, ts: hit.ts } : 'none';
  }

  /**
   * The channel's id: configured as one, learnt from a post's answer (this process), kept in Redis (an earlier
   * process or another replica learnt it), or resolved by name with conversations.list (then kept). Undefined
   * when none of these knows it.
   */
  private async channelId(web: WebClient, channel: string): Promise<string | undefined> {
    const known = this.channelIds.get(channel) ?? (CHANNEL_ID.test(channel) ? channel : undefined);
    if (known) return known;
    if (this.o.facts) {
      try {
        const kept = await this.o.facts.get(this.name, channelFact(channel));
        if (kept) {
          this.channelIds.set(channel, kept);
          return kept;
        }
      } catch (err) {
        this.log.warn({ channel, err: errorMessage(err) }, 'could not read the channel id kept in Redis');
      }
    }
    const listed = await this.listChannel(web, channel);
    if (listed) await this.learnChannelId(channel, listed);
    return listed;
  }

  /** The id of `#name` from conversations.list (needs channels:read, groups:read for a private channel). */
  private async listChannel(web: WebClient, channel: string): Promise<string | undefined> {
    const name = channel.replace(/^#/, '');
    let cursor: string | undefined;
    try {
      for (let page = 0; page < LIST_PAGES; page++) {
        const res = await web.conversations.list({
          types: 'public_channel,private_channel',
          exclude_archived: true,
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        const hit = res.channels?.find((c) => c.name === name);
        if (hit?.id) return hit.id;
        cursor = res.response_metadata?.next_cursor || undefined;
        if (!cursor) return undefined;
      }
    } catch (err) {
      const outcome = this.classify('conversations.list', err);
      if (outcome.ok || outcome.retriable) throw new CallFailed('conversations.list', err);
      this.warnNoLookup(
        `list:${platformError(err) ?? outcome.code}`,
        { channel, error: platformError(err) ?? outcome.code },
        `cannot resolve channel ${channel} to its id: ${outcome.reason}`,
      );
    }
    return undefined;
  }

  /** Remembers a channel's id here and in Redis (a failed write only costs the lookup after a restart). */
  private async learnChannelId(channel: string, id: string): Promise<void> {
    if (this.channelIds.get(channel) === id) return;
    this.channelIds.set(channel, id);
    if (!this.o.facts || id === channel) return;
    try {
      await this.o.facts.set(this.name, channelFact(channel), id);
    } catch (err) {
      this.log.warn({ channel, id, err: errorMessage(err) }, 'could not keep the channel id in Redis');
    }
  }

  private classify(method: string, err: unknown): DeliveryOutcome {
    return classifySlackError(err, {
      method,
      channel: this.o.def.channel,
      secret: describeSecret(this.o.def.token),
      timeoutMs: this.timeoutMs,
    });
  }

  private warnNoLookup(reason: string, fields: Record<string, unknown>, msg: string): void {
    if (this.lookupWarned.has(reason)) return;
    this.lookupWarned.add(reason);
    this.log.warn(fields, msg);
  }

  /** Logs every cut the builder made, so a shortened page is never silent. */
  private message(job: DeliveryJob, m: SlackMessage): SlackMessage {
    if (m.truncated.length > 0) {
      this.log.warn(
        { job: job.id, event: job.event, rule: job.alert.rule, truncated: m.truncated },
        'slack message truncated to fit Slack limits',
      );
    }
    return m;
  }

  private async post(
    web: WebClient,
    channel: string,
    m: SlackMessage,
    thread: { ts: string; broadcast: boolean } | undefined,
    jobId: string,
  ): Promise<SlackRecord> {
    await this.gate(channel);
    let res;
    const send = (blocks: SlackMessage['blocks'] | undefined, text: string) =>
      web.chat.postMessage({
        // The SDK's argument type is a union keyed on which of text/blocks/attachments is set.
        channel,
        text,
        ...(blocks ? { blocks } : {}),
        unfurl_links: false,
        unfurl_media: false,
        ...(thread ? { thread_ts: thread.ts, reply_broadcast: thread.broadcast } : {}),
        metadata: { event_type: SLACK_METADATA_EVENT, event_payload: { job: jobId } },
      } as ChatPostMessageArguments);
    try {
      res = await send(m.blocks, m.text);
    } catch (err) {
      // Slack refused the message's shape (a limit it enforces that the builder missed): a page must still go out,
      // so once more as plain text, and loudly in the log, rather than losing it as a permanent failure.
      if (!BAD_SHAPE.has(platformError(err) ?? '')) throw new CallFailed('chat.postMessage', err);
      this.log.error(
        { channel, error: platformError(err) },
        'slack refused the message blocks; posting it as plain text',
      );
      try {
        res = await send(undefined, truncateCodePoints(m.text, 3_000).text);
      } catch (err2) {
        throw new CallFailed('chat.postMessage', err2);
      }
    }
    const id = typeof res.channel === 'string' && res.channel !== '' ? res.channel : channel;
    await this.learnChannelId(channel, id);
    if (thread && !(res.message as { thread_ts?: string } | undefined)?.thread_ts)
      this.log.info(
        { channel: id, ts: res.ts, parent: thread.ts },
        'slack posted the reply top-level (its parent was deleted)',
      );
    return { channel: id, ts: String(res.ts ?? '') };
  }

  private async updateOrRepost(
    web: WebClient,
    job: DeliveryJob,
    parent: SlackRecord,
    m: SlackMessage,
  ): Promise<{ record: SlackRecord; reposted: boolean }> {
    try {
      await web.chat.update({
        channel: parent.channel,
        ts: parent.ts,
        text: m.text,
        blocks: m.blocks,
      } as ChatUpdateArguments);
      return { record: parent, reposted: false };
    } catch (err) {
      const error = platformError(err);
      if (error !== undefined && BAD_SHAPE.has(error)) {
        // As in post(): the state change must show, as plain text if the blocks are refused.
        this.log.error(
          { channel: parent.channel, error },
          'slack refused the message blocks; updating it as plain text',
        );
        try {
          await web.chat.update({
            channel: parent.channel,
            ts: parent.ts,
            text: truncateCodePoints(m.text, 3_000).text,
            blocks: [],
          } as ChatUpdateArguments);
          return { record: parent, reposted: false };
        } catch (err2) {
          throw new CallFailed('chat.update', err2);
        }
      }
      if (error === undefined || !UPDATE_GONE.has(error)) throw new CallFailed('chat.update', err);
      this.log.info(
        { channel: parent.channel, ts: parent.ts, error },
        'slack message cannot be edited; posting a new one',
      );
      return { record: await this.postOnce(web, job, parent.channel, m), reposted: true };
    }
  }

  private async replyOrPost(
    web: WebClient,
    job: DeliveryJob,
    parent: SlackRecord,
    m: SlackMessage,
    broadcast: boolean,
  ): Promise<void> {
    try {
      await this.postOnce(web, job, parent.channel, m, { ts: parent.ts, broadcast });
    } catch (err) {
      const error = err instanceof CallFailed ? platformError(err.err) : undefined;
      if (error === undefined || !THREAD_CLOSED.has(error)) throw err;
      this.log.info(
        { channel: parent.channel, ts: parent.ts, error },
        'slack thread cannot take replies; posting top-level',
      );
      await this.postOnce(web, job, parent.channel, m);
    }
  }

  /**
   * Slack allows about one post per second per channel. Posts to one channel are spaced by reserving slots, but
   * none waits more than ~1 s: a burst beyond that goes out and, if Slack answers 429, the outbox retries later.
   */
  private async gate(channel: string): Promise<void> {
    if (this.postIntervalMs <= 0) return;
    const key = this.channelIds.get(channel) ?? channel;
    const now = Date.now();
    const at = Math.max(now, this.nextPostAt.get(key) ?? 0);
    this.nextPostAt.set(key, Math.min(at, now + MAX_GATE_WAIT_MS) + this.postIntervalMs);
    const wait = Math.min(at - now, MAX_GATE_WAIT_MS);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  private webClient(token: string): WebClient {
    if (this.client?.token !== token) {
      this.client = {
        token,
        web: new WebClient(token, {
          slackApiUrl: this.apiUrl,
          retryConfig: { retries: 0 },
          rejectRateLimitedCalls: true,
          timeout: this.timeoutMs,
          logger: slackLogger(this.log.child({ sdk: '@slack/web-api' })),
        }),
      };
    }
    return this.client.web;
  }
}
