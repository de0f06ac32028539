/**
 * A fake Slack Web API on a real loopback HTTP server, for delivery tests that exercise the real @slack/web-api
 * client (serialisation, status handling, timeouts) instead of stubbing it.
 *
 *   const slack = await startFakeSlack();                  // token 'xoxb-fake-token', channel C0ALERTS (#alerts)
 *   const receiver = new SlackReceiver({ def: { name: 'slack', kind: 'slack', channel: 'C0ALERTS',
 *     token: { env: 'SLACK_BOT_TOKEN' } }, apiUrl: slack.url, env: { SLACK_BOT_TOKEN: slack.token }, logger });
 *   slack.fail('chat.postMessage', 1, { status: 429, retryAfter: 1 }); // the next post answers 429
 *   ...
 *   slack.topLevel('C0ALERTS'); slack.replies(ts); slack.requests;   // what arrived
 *   await slack.close();
 *
 * API
 *   startFakeSlack(opts?)  opts.token (the one valid bot token), opts.channels (id → name; default
 *                          { C0ALERTS: 'alerts' }), opts.historyScope (default true; false: the token lacks
 *                          channels:history, so conversations.history/replies answer missing_scope),
 *                          opts.listScope (default true; false: conversations.list answers missing_scope),
 *                          opts.rateLimit (default { perSecond: 1, burst: 3 }; false: none): chat.postMessage per
 *                          channel is a token bucket, as Slack's "1 message a second per channel, short bursts
 *                          allowed"; an empty bucket answers HTTP 429 `ratelimited` with Retry-After and pauses the
 *                          channel until then (a post inside the pause is answered 429 again and recorded).
 *                          Resolves once listening on 127.0.0.1, port 0.
 *   url                    ends in `/api/`: pass it as the WebClient's `slackApiUrl`.
 *   token                  the valid token.
 *   requests               every request in arrival order: method, form fields, parsed blocks, token, time,
 *                          and the status and body it was answered with (both undefined while hanging).
 *   messages               every message in post order, top-level and replies, with its current text and blocks.
 *   topLevel(channel?)     non-deleted messages without threadTs (channel: id, name or #name).
 *   replies(ts)            non-deleted replies in the thread of `ts`.
 *   deleteMessage(ts)      marks a message deleted, as a person deleting it in Slack: updates then fail.
 *   fail(method, times, response)
 *                          the next `times` calls of `method` (a method below, or '*') answer `response`
 *                          instead, before any other check:
 *                            { status: 429, retryAfter: 1 }      HTTP 429, Retry-After header, body ratelimited
 *                            { status: 500 } (any status, body?) that HTTP status
 *                            { ok: false, error: 'not_in_channel' } HTTP 200 with that body (a platform error)
 *                            { hang: true }                       no answer at all (for client timeouts)
 *                            { lose: true }                       the call takes effect (a post is stored) but
 *                                                                 no answer comes: a response lost on the way
 *                          Scripts queue in order; `times` may be Infinity.
 *   pauses                 the rate-limit pauses of chat.postMessage: { channel, from, until } (ms), the fake's
 *                          own and those of a scripted 429 with retryAfter; a 429 carries Retry-After = the pause.
 *   calledWhilePaused      chat.postMessage requests that arrived for a channel inside one of its pauses (a client
 *                          that honours Retry-After sends none).
 *   close()                drops hanging connections and stops the server.
 *   headerOf(blocks)       (exported) the text of a message's header block, "" without one.
 *
 * Methods
 *   POST /api/chat.postMessage  channel (id, name or #name; unknown → channel_not_found), text, blocks,
 *                               thread_ts (an unknown parent → cannot_reply_to_message; a deleted one: Slack
 *                               posts the reply top-level and answers ok: true, without thread_ts), reply_broadcast
 *                               → { ok, channel: <id>, ts: "<seq>.000100", message }.
 *                               `metadata` ({event_type, event_payload}, JSON in a form field) is kept.
 *   POST /api/chat.update       channel, ts (unknown or deleted → message_not_found), text, blocks.
 *   POST /api/conversations.history   channel (an id; else channel_not_found), oldest, limit, include_all_metadata
 *                               → top-level messages after `oldest`, newest first, with metadata when asked.
 *   POST /api/conversations.replies   channel, ts (unknown → thread_not_found), oldest, limit, include_all_metadata
 *                               → the parent, then its replies after `oldest`, oldest first.
 *   POST /api/conversations.list  types, exclude_archived, limit, cursor → { ok, channels: [{ id, name, … }],
 *                               response_metadata: { next_cursor } } (pages of `limit`); missing_scope when
 *                               opts.listScope is false (the token lacks channels:read).
 *   POST /api/auth.test         → { ok, team, user, user_id, bot_id, team_id, url }.
 *   Anything else               → { ok: false, error: 'unknown_method' }.
 * Bodies are application/x-www-form-urlencoded (what the SDK sends; `blocks` JSON-encoded in a field) or JSON.
 * Auth: `Authorization: Bearer <token>` (or a `token` field); missing → not_authed, wrong → invalid_auth.
 * Limits enforced, counted in code points: blocks > 50, header text > 150, section text > 3000, fields > 10 or a
 * field > 2000, context elements > 10 → invalid_blocks (with Slack-like `errors`); text > 40,000 on post or
 * > 4,000 on update → msg_too_long; neither text nor blocks → no_text. Slack answers errors with HTTP 200.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeSlackMethod =
  | 'chat.postMessage'
  | 'chat.update'
  | 'auth.test'
  | 'conversations.history'
  | 'conversations.replies'
  | 'conversations.list'
  | '*';

export type FakeSlackFailure =
  | { status: number; retryAfter?: number; body?: unknown }
  | { ok: false; error: string; [field: string]: unknown }
  | { hang: true }
  | { lose: true };

export interface FakeSlackRequest {
  method: string;
  form: Record<string, string>;
  /** `form.blocks` parsed; undefined when absent or not JSON. */
  blocks?: unknown[];
  /** The bearer token (or `token` field) sent. */
  token?: string;
  /** Arrival time, ms. */
  time: number;
  /** HTTP status answered; undefined while hanging. */
  status?: number;
  response?: unknown;
}

export interface FakeSlackMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  threadTs?: string;
  replyBroadcast: boolean;
  /** chat.update calls applied. */
  edits: number;
  /** The post's `metadata`, parsed. */
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
  deleted: boolean;
}

export interface FakeSlackOptions {
  token?: string;
  /** Channel id → name. */
  channels?: Record<string, string>;
  /** Whether the token may read channels (conversations.history / replies); default true. */
  historyScope?: boolean;
  /** Whether the token may list channels (conversations.list, channels:read); default true. */
  listScope?: boolean;
  /** chat.postMessage per channel: tokens a second and bucket size; false: no rate limit. */
  rateLimit?: { perSecond: number; burst: number } | false;
}

export interface FakeSlackPause {
  channel: string;
  from: number;
  until: number;
}

export interface FakeSlack {
  readonly url: string;
  readonly token: string;
  readonly requests: FakeSlackRequest[];
  readonly messages: FakeSlackMessage[];
  topLevel(channel?: string): FakeSlackMessage[];
  replies(ts: string): FakeSlackMessage[];
  deleteMessage(ts: string): void;
  readonly pauses: FakeSlackPause[];
  readonly calledWhilePaused: FakeSlackRequest[];
  fail(method: FakeSlackMethod, times: number, response: FakeSlackFailure): void;
  close(): Promise<void>;
}

type Answer = { status: number; body: unknown; headers?: Record<string, string> } | 'hang' | 'lose';

const MAX = {
  blocks: 50,
  header: 150,
  section: 3000,
  fields: 10,
  field: 2000,
  context: 10,
  postText: 40_000,
  updateText: 4000,
};

/** The text of a message's header block ("" without one): what a person sees first. */
export function headerOf(blocks: unknown[] | undefined): string {
  const h = (blocks ?? []).find((b) => (b as { type: string }).type === 'header') as
    { text: { text: string } } | undefined;
  return h?.text.text ?? '';
}

function cpLength(s: unknown): number {
  return typeof s === 'string' ? Array.from(s).length : 0;
}

function platformError(error: string, extra: Record<string, unknown> = {}): Answer {
  return { status: 200, body: { ok: false, error, ...extra } };
}

/** Slack-like `invalid_blocks` checks: the first few real limits a message builder can break. */
function blockErrors(blocks: unknown[]): string[] {
  const errors: string[] = [];
  if (blocks.length > MAX.blocks) errors.push(`no more than ${MAX.blocks} items allowed [json-pointer:/blocks]`);
  blocks.forEach((raw, i) => {
    const b = (raw ?? {}) as {
      type?: string;
      text?: { text?: unknown };
      fields?: { text?: unknown }[];
      elements?: { text?: unknown }[];
    };
    if (b.type === 'header' && cpLength(b.text?.text) > MAX.header) {
      errors.push(`must be less than ${MAX.header + 1} characters [json-pointer:/blocks/${i}/text/text]`);
    }
    if (b.type === 'section') {
      if (b.text !== undefined && cpLength(b.text.text) > MAX.section) {
        errors.push(`must be less than ${MAX.section + 1} characters [json-pointer:/blocks/${i}/text/text]`);
      }
      if (b.text !== undefined && cpLength(b.text.text) === 0)
        errors.push(`must be more than 0 characters [json-pointer:/blocks/${i}/text/text]`);
      if ((b.fields?.length ?? 0) > MAX.fields)
        errors.push(`no more than ${MAX.fields} items allowed [json-pointer:/blocks/${i}/fields]`);
      b.fields?.forEach((f, j) => {
        if (cpLength(f.text) > MAX.field)
          errors.push(`must be less than ${MAX.field + 1} characters [json-pointer:/blocks/${i}/fields/${j}/text]`);
      });
    }
    if (b.type === 'context' && (b.elements?.length ?? 0) > MAX.context) {
      errors.push(`no more than ${MAX.context} items allowed [json-pointer:/blocks/${i}/elements]`);
    }
  });
  return errors;
}

function tooMany(seconds: number): Answer {
  return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(seconds) } };
}

function parseBody(raw: string, contentType: string | undefined): Record<string, string> {
  if (contentType?.includes('application/json')) {
    const obj = JSON.parse(raw || '{}') as Record<string, unknown>;
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  }
  return Object.fromEntries(new URLSearchParams(raw));
}

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeSlack(opts: FakeSlackOptions = {}): Promise<FakeSlack> {
  const token = opts.token ?? 'xoxb-fake-token';
  const channels = opts.channels ?? { C0ALERTS: 'alerts' };
  const requests: FakeSlackRequest[] = [];
  const messages: FakeSlackMessage[] = [];
  const scripts: { method: FakeSlackMethod; remaining: number; response: FakeSlackFailure }[] = [];
  let seq = 0;
  const rate = opts.rateLimit === undefined ? { perSecond: 1, burst: 3 } : opts.rateLimit;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const pauses: FakeSlackPause[] = [];
  const calledWhilePaused: FakeSlackRequest[] = [];

  /** The 429 to answer when `channel` is out of posts at `now`, else undefined (and a token is taken). */
  const rateLimited = (channel: string, now: number, record: FakeSlackRequest): Answer | undefined => {
    if (rate === false) return undefined;
    const pause = pauses.findLast((p) => p.channel === channel);
    if (pause && now < pause.until) {
      calledWhilePaused.push(record);
      return tooMany(Math.ceil((pause.until - now) / 1000));
    }
    const b = buckets.get(channel) ?? { tokens: rate.burst, at: now };
    b.tokens = Math.min(rate.burst, b.tokens + ((now - b.at) / 1000) * rate.perSecond);
    b.at = now;
    buckets.set(channel, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    const seconds = Math.max(1, Math.ceil((1 - b.tokens) / rate.perSecond));
    pauses.push({ channel, from: now, until: now + seconds * 1000 });
    return tooMany(seconds);
  };

  const channelId = (c: string | undefined): string | undefined => {
    if (!c) return undefined;
    if (c in channels) return c;
    const name = c.replace(/^#/, '');
    return Object.keys(channels).find((id) => channels[id] === name);
  };
  const find = (ts: string | undefined): FakeSlackMessage | undefined =>
    messages.find((m) => m.ts === ts && !m.deleted);

  const scripted = (method: string): Answer | undefined => {
    const s = scripts.find((x) => (x.method === method || x.method === '*') && x.remaining > 0);
    if (!s) return undefined;
    s.remaining--;
    const r = s.response;
    if ('hang' in r) return 'hang';
    if ('lose' in r) return 'lose';
    if ('error' in r && r.ok === false) return { status: 200, body: r };
    const h = r as { status: number; retryAfter?: number; body?: unknown };
    const headers: Record<string, string> = h.retryAfter !== undefined ? { 'retry-after': String(h.retryAfter) } : {};
    const body = h.body ?? (h.status === 429 ? { ok: false, error: 'ratelimited' } : `fake slack: HTTP ${h.status}`);
    return { status: h.status, body, headers };
  };

  const postMessage = (
    form: Record<string, string>,
    blocks: unknown[] | undefined,
    record: FakeSlackRequest,
  ): Answer => {
    const channel = channelId(form.channel);
    if (!channel) return platformError('channel_not_found');
    const limited = rateLimited(channel, record.time, record);
    if (limited) return limited;
    if (!form.text && !blocks) return platformError('no_text');
    if (cpLength(form.text) > MAX.postText) return platformError('msg_too_long');
    const errors = blocks ? blockErrors(blocks) : [];
    if (errors.length > 0) return platformError('invalid_blocks', { errors });
    let threadTs: string | undefined;
    if (form.thread_ts) {
      const parent = messages.find((m) => m.ts === form.thread_ts);
      if (!parent || parent.channel !== channel) return platformError('cannot_reply_to_message');
      // Real Slack posts a reply to a deleted parent top-level, answering ok: true (no thread_ts in the answer).
      // A reply to a reply joins the parent's thread, as in Slack.
      if (!parent.deleted) threadTs = parent.threadTs ?? parent.ts;
    }
    // Real ts values are epoch seconds with microseconds; the sequence keeps them unique and ordered.
    const ts = `${Math.floor(Date.now() / 1000) + ++seq}.000100`;
    let metadata: FakeSlackMessage['metadata'];
    try {
      metadata = form.metadata === undefined ? undefined : (JSON.parse(form.metadata) as FakeSlackMessage['metadata']);
    } catch {
      return platformError('invalid_metadata_format');
    }
    const msg: FakeSlackMessage = {
      channel,
      ts,
      text: form.text ?? '',
      blocks,
      threadTs,
      replyBroadcast: form.reply_broadcast === 'true',
      edits: 0,
      deleted: false,
      metadata,
    };
    messages.push(msg);
    return {
      status: 200,
      body: {
        ok: true,
        channel,
        ts,
        message: { type: 'message', text: msg.text, ts, thread_ts: threadTs, bot_id: 'B0FAKE' },
      },
    };
  };

  const update = (form: Record<string, string>, blocks: unknown[] | undefined): Answer => {
    const channel = channelId(form.channel);
    if (!channel) return platformError('channel_not_found');
    const msg = find(form.ts);
    if (!msg || msg.channel !== channel) return platformError('message_not_found');
    if (cpLength(form.text) > MAX.updateText) return platformError('msg_too_long');
    const errors = blocks ? blockErrors(blocks) : [];
    if (errors.length > 0) return platformError('invalid_blocks', { errors });
    // Slack's rule: text without blocks removes the old blocks; neither keeps them.
    if (form.text !== undefined) msg.text = form.text;
    if (blocks !== undefined || form.text !== undefined) msg.blocks = blocks;
    msg.edits++;
    return { status: 200, body: { ok: true, channel, ts: msg.ts, text: msg.text } };
  };

  const view = (m: FakeSlackMessage, withMetadata: boolean) => ({
    type: 'message',
    text: m.text,
    ts: m.ts,
    ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
    bot_id: 'B0FAKE',
    ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
  });
  const read = (method: string, form: Record<string, string>): Answer => {
    if (opts.historyScope === false)
      return platformError('missing_scope', { needed: 'channels:history', provided: 'chat:write' });
    const channel = form.channel !== undefined && form.channel in channels ? form.channel : undefined;
    if (!channel) return platformError('channel_not_found');
    const oldest = Number(form.oldest ?? 0);
    const limit = Number(form.limit ?? 100);
    const withMetadata = form.include_all_metadata === 'true';
    if (method === 'conversations.history') {
      const found = messages
        .filter((m) => !m.deleted && m.channel === channel && m.threadTs === undefined && Number(m.ts) > oldest)
        .reverse();
      return {
        status: 200,
        body: {
          ok: true,
          messages: found.slice(0, limit).map((m) => view(m, withMetadata)),
          has_more: found.length > limit,
        },
      };
    }
    const parent = find(form.ts);
    if (!parent || parent.channel !== channel) return platformError('thread_not_found');
    const replies = messages.filter((m) => !m.deleted && m.threadTs === parent.ts && Number(m.ts) > oldest);
    return {
      status: 200,
      body: {
        ok: true,
        messages: [parent, ...replies].slice(0, limit).map((m) => view(m, withMetadata)),
        has_more: replies.length + 1 > limit,
      },
    };
  };

  const answer = (record: FakeSlackRequest): Answer => {
    const s = scripted(record.method);
    const channel = channelId(record.form.channel);
    if (s !== undefined && s !== 'hang' && s !== 'lose' && s.status === 429 && record.method === 'chat.postMessage') {
      // A scripted 429 with Retry-After pauses the channel like one of the fake's own.
      const seconds = Number(s.headers?.['retry-after']);
      if (channel && seconds > 0) pauses.push({ channel, from: record.time, until: record.time + seconds * 1000 });
    }
    if (s === 'lose') {
      // The call takes effect; only its answer goes missing.
      const real = answerUnscripted(record);
      return real === 'hang' || real === 'lose' ? real : 'lose';
    }
    if (s) return s;
    return answerUnscripted(record);
  };

  const answerUnscripted = (record: FakeSlackRequest): Answer => {
    const { method, form, blocks, token: sent } = record;
    if (!sent) return platformError('not_authed');
    if (sent !== token) return platformError('invalid_auth');
    switch (method) {
      case 'chat.postMessage':
        return postMessage(form, blocks, record);
      case 'chat.update':
        return update(form, blocks);
      case 'conversations.history':
      case 'conversations.replies':
        return read(method, form);
      case 'conversations.list': {
        if (opts.listScope === false)
          return platformError('missing_scope', { needed: 'channels:read', provided: 'chat:write' });
        const all = Object.entries(channels).map(([id, name]) => ({ id, name, is_channel: true, is_archived: false }));
        const limit = Math.max(1, Number(form.limit ?? 100));
        const from = Number(form.cursor || 0);
        const next = from + limit < all.length ? String(from + limit) : '';
        return {
          status: 200,
          body: { ok: true, channels: all.slice(from, from + limit), response_metadata: { next_cursor: next } },
        };
      }
      case 'auth.test':
        return {
          status: 200,
          body: {
            ok: true,
            url: 'https://fake.slack.test/',
            team: 'Fake',
            user: 'funnelwatch',
            team_id: 'T0FAKE',
            user_id: 'U0FAKE',
            bot_id: 'B0FAKE',
          },
        };
      default:
        return platformError('unknown_method');
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const time = Date.now();
    const method = (req.url ?? '').replace(/^\/api\//, '').replace(/\?.*$/, '');
    const raw = await readAll(req);
    let form: Record<string, string> = {};
    try {
      form = parseBody(raw, req.headers['content-type']);
    } catch {
      // An unparseable body is recorded with no fields and then fails like Slack would (no_text, not_authed …).
    }
    let blocks: unknown[] | undefined;
    try {
      const parsed: unknown = form.blocks === undefined ? undefined : JSON.parse(form.blocks);
      if (Array.isArray(parsed)) blocks = parsed;
    } catch {
      blocks = undefined;
    }
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? form.token;
    const record: FakeSlackRequest = { method, form, blocks, token: auth, time };
    requests.push(record);
    const a = answer(record);
    if (a === 'hang' || a === 'lose') return; // the socket stays open until the client gives up or close() drops it
    record.status = a.status;
    record.response = a.body;
    const body = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
    const type = typeof a.body === 'string' ? 'text/plain' : 'application/json; charset=utf-8';
    res.writeHead(a.status, { 'content-type': type, ...a.headers });
    res.end(body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fake slack: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/api/`,
    token,
    requests,
    messages,
    pauses,
    calledWhilePaused,
    topLevel(channel) {
      const id = channel === undefined ? undefined : (channelId(channel) ?? channel);
      return messages.filter((m) => !m.deleted && m.threadTs === undefined && (id === undefined || m.channel === id));
    },
    replies(ts) {
      return messages.filter((m) => !m.deleted && m.threadTs === ts);
    },
    deleteMessage(ts) {
      for (const m of messages) if (m.ts === ts) m.deleted = true;
    },
    fail(method, times, response) {
      scripts.push({ method, remaining: times, response });
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
