/**
 * SlackReceiver against a loopback fake of the Slack Web API (test/support/fake-slack.ts), through the real
 * @slack/web-api client: what each delivery event posts or edits, how every kind of failure is classified, the
 * fallbacks when the incident's message is gone, the per-channel pacing, and that the SDK logs through pino.
 */
import { describe, it, expect, afterEach, vi } from 'vitest';
import { Writable } from 'node:stream';
import { SlackReceiver, type SlackReceiverOptions } from '../../../src/notify/slack.js';
import type {
  DeliveryEvent,
  DeliveryJob,
  DeliveryOutcome,
  DeliveryRecord,
  SlackRecord,
} from '../../../src/notify/receiver.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { createLogger } from '../../../src/obs/logger.js';
import { headerOf, startFakeSlack, type FakeSlack, type FakeSlackOptions } from '../../support/fake-slack.js';
import { RedisReceiverFacts } from '../../../src/notify/receiver-facts.js';
import { redisClient, uniquePrefix } from '../../support/env.js';

const FIRED = Date.UTC(2025, 0, 6, 12, 8);
const ONSET = Date.UTC(2025, 0, 6, 12, 3);
const CHANNEL = 'C0ALERTS';

function alert(over: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: `checkout-completion-drop|payment_provider=stripe@${FIRED}#2`,
    kind: 'firing',
    at: FIRED,
    rule: 'checkout-completion-drop',
    funnel: 'checkout',
    segment: { dimension: 'payment_provider', value: 'stripe' },
    severity: 'critical',
    notify: ['slack'],
    owner: 'payments-team',
    labels: {},
    incidentId: `checkout-completion-drop|payment_provider=stripe@${FIRED}`,
    from: 'pending',
    to: 'firing',
    evidence: {
      observed: 508,
      expected: 741.6,
      observedRate: 0.412,
      expectedRate: 0.601,
      relativeChange: 0.314,
      volume: 1234,
      windowMinutes: 15,
      statistic: 5.1,
      threshold: 3.2,
      pValue: 2e-7,
      chanceRatePerWeek: 0.01,
      onset: ONSET,
      evaluatedUpTo: FIRED,
      baseline: { kind: 'seasonal', weeksUsed: 4 },
    },
    ruleSetVersion: 'rs-7',
    ...over,
  };
}

function job(event: DeliveryEvent, over: Partial<AlertTransition> = {}, extra: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: `t#2/${event}/slack`,
    receiver: 'slack',
    event,
    alert: alert(over),
    createdAt: FIRED + 3_600_000,
    attempt: 0,
    ...extra,
  };
}

function prior(slack: SlackRecord | undefined): DeliveryRecord {
  return {
    receiver: 'slack',
    incident: alert().incidentId!,
    openedAt: FIRED,
    lastEvent: 'firing',
    lastAt: FIRED,
    ...(slack ? { slack } : {}),
  };
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', pretty: false, destination }) };
}

const open: FakeSlack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  vi.restoreAllMocks();
});

async function setup(over: Partial<SlackReceiverOptions> = {}, channel = CHANNEL, fake: FakeSlackOptions = {}) {
  // These tests switch the receiver's own pacing off to stay fast, so the fake's rate limit is off too (it is
  // tested in fake-services.test.ts, the pacing below and in the storm test); with pacing on, Slack's limit applies.
  const paced = over.postIntervalMs !== undefined && over.postIntervalMs > 0;
  const slack = await startFakeSlack({ ...(paced ? {} : { rateLimit: false }), ...fake });
  open.push(slack);
  const { lines, logger } = capture();
  const env: Record<string, string | undefined> = { SLACK_BOT_TOKEN: slack.token };
  const receiver = new SlackReceiver({
    def: { name: 'slack', kind: 'slack', channel, token: { env: 'SLACK_BOT_TOKEN' } },
    apiUrl: slack.url,
    logger,
    env,
    postIntervalMs: 0,
    ...over,
  });
  return { slack, receiver, lines, env };
}

function okRecord(o: DeliveryOutcome): SlackRecord {
  expect(o.ok).toBe(true);
  const rec = o.ok ? o.record?.slack : undefined;
  expect(rec).toBeDefined();
  return rec!;
}

describe('SlackReceiver: deliveries', () => {
  it('firing posts the incident message and returns its channel id and ts', async () => {
    const { slack, receiver } = await setup({}, '#alerts');
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    expect(rec).toEqual({ channel: CHANNEL, ts: slack.messages[0]!.ts });
    const [msg] = slack.topLevel(CHANNEL);
    expect(headerOf(msg!.blocks)).toContain('FIRING: checkout-completion-drop [payment_provider=stripe]');
    expect(msg!.text).toBe(
      'FIRING: checkout-completion-drop: conversion 41.2% vs expected 60.1% (−31%) [payment_provider=stripe]',
    );
    expect(slack.requests[0]!.form.unfurl_links).toBe('false');
  });

  it('a retried firing job whose post was recorded updates the message instead of posting twice', async () => {
    const { slack, receiver } = await setup();
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    expect(okRecord(await receiver.deliver(job('firing', {}, { attempt: 1 }), prior(rec)))).toEqual(rec);
    expect(slack.messages).toHaveLength(1);
    expect(slack.messages[0]!.edits).toBe(1);
  });

  it('updated edits the message in place and replies in its thread', async () => {
    const { slack, receiver } = await setup();
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    const worse = alert().evidence!;
    const out = await receiver.deliver(job('updated', { evidence: { ...worse, observedRate: 0.3 } }), prior(rec));
    expect(okRecord(out)).toEqual(rec);
    const parent = slack.topLevel(CHANNEL);
    expect(parent).toHaveLength(1);
    expect(parent[0]!.edits).toBe(1);
    expect(headerOf(parent[0]!.blocks)).toContain('FIRING');
    expect(JSON.stringify(parent[0]!.blocks)).toContain('30.0%');
    const replies = slack.replies(rec.ts);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.text).toContain('Incident updated');
    expect(replies[0]!.text).toContain('(−50%)');
    expect(replies[0]!.replyBroadcast).toBe(false);
  });

  it('reminder only replies in the thread', async () => {
    const { slack, receiver } = await setup();
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    const out = await receiver.deliver(job('reminder'), prior(rec));
    expect(out.ok).toBe(true);
    expect(slack.messages[0]!.edits).toBe(0);
    expect(slack.replies(rec.ts).map((m) => m.text)).toEqual([expect.stringContaining('still firing since 12:03 UTC')]);
  });

  it('resolved updates the message to RESOLVED and broadcasts its thread reply', async () => {
    const { slack, receiver } = await setup();
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    const out = await receiver.deliver(job('resolved', { kind: 'resolved', at: FIRED + 37 * 60_000 }), prior(rec));
    expect(okRecord(out)).toEqual(rec);
    expect(headerOf(slack.topLevel(CHANNEL)[0]!.blocks)).toContain('RESOLVED');
    const [reply] = slack.replies(rec.ts);
    expect(reply!.replyBroadcast).toBe(true);
    expect(reply!.text).toContain('resolved at 12:45 UTC after 37 min');
  });

  it(
    'without the incident message, updated, ' + 'reminder and resolved post a new top-level message and return it',
    async () => {
      const { slack, receiver } = await setup();
      for (const ev of ['updated', 'reminder', 'resolved'] as const) {
        const rec = okRecord(await receiver.deliver(job(ev), prior(undefined)));
        expect(slack.topLevel(CHANNEL).at(-1)!.ts).toBe(rec.ts);
      }
      expect(headerOf(slack.topLevel(CHANNEL)[2]!.blocks)).toContain('RESOLVED');
      expect(slack.messages.every((m) => m.threadTs === undefined)).toBe(true);
    },
  );

  it('delivery_failed posts a self-alert and returns its message (its recovery updates it)', async () => {
    const { slack, receiver } = await setup();
    const failure = {
      receiver: 'pagerduty',
      jobId: 'x/firing/pagerduty',
      event: 'firing' as const,
      code: 'PD_400',
      reason: 'Invalid routing key',
    };
    const out = await receiver.deliver(job('delivery_failed', {}, { failure }), undefined);
    expect(out).toEqual({ ok: true, record: { slack: { channel: CHANNEL, ts: slack.messages[0]!.ts } } });
    expect(headerOf(slack.messages[0]!.blocks)).toBe(':warning: DELIVERY FAILED: pagerduty');
    const recovered = await receiver.deliver(
      job('delivery_recovered', {}, { failure: { ...failure, reason: 'Invalid routing key (failures: 3)' } }),
      prior(okRecord(out)),
    );
    expect(okRecord(recovered)).toEqual({ channel: CHANNEL, ts: slack.messages[0]!.ts });
    expect(slack.topLevel(CHANNEL)).toHaveLength(1);
    expect(headerOf(slack.topLevel(CHANNEL)[0]!.blocks)).toBe(':large_green_circle: DELIVERY RECOVERED: pagerduty');
    expect(slack.replies(slack.messages[0]!.ts)).toHaveLength(1);
  });

  it('an update of a deleted message posts a new one and returns the new record (no thread reply)', async () => {
    const { slack, receiver } = await setup();
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    slack.deleteMessage(rec.ts);
    const next = okRecord(await receiver.deliver(job('updated'), prior(rec)));
    expect(next.ts).not.toBe(rec.ts);
    const visible = slack.topLevel(CHANNEL);
    expect(visible.map((m) => m.ts)).toEqual([next.ts]);
    expect(headerOf(visible[0]!.blocks)).toContain('FIRING');
    expect(slack.messages.filter((m) => m.threadTs)).toHaveLength(0);
    // and a later event goes to the new message
    await receiver.deliver(job('reminder'), prior(next));
    expect(slack.replies(next.ts)).toHaveLength(1);
  });

  it('a locked thread gets its reply as a top-level message', async () => {
    const { slack, receiver } = await setup();
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    slack.fail('chat.postMessage', 1, { ok: false, error: 'restricted_action_thread_locked' });
    const out = await receiver.deliver(job('reminder'), prior(rec));
    expect(out.ok).toBe(true);
    const top = slack.topLevel(CHANNEL);
    expect(top).toHaveLength(2);
    expect(top[1]!.text).toContain('*checkout-completion-drop [payment_provider=stripe]* still firing');
  });
});

describe('SlackReceiver: failures', () => {
  it('429 with Retry-After: retriable with retryAfterMs, nothing posted, then success on the next call', async () => {
    const { slack, receiver } = await setup();
    slack.fail('chat.postMessage', 1, { status: 429, retryAfter: 1 });
    const t0 = Date.now();
    const out = await receiver.deliver(job('firing'), undefined);
    expect(Date.now() - t0).toBeLessThan(900); // no sleeping inside the receiver
    expect(out).toMatchObject({ ok: false, retriable: true, code: 'SLACK_RATE_LIMITED', retryAfterMs: 1000 });
    expect(slack.messages).toHaveLength(0);
    expect(slack.requests).toHaveLength(1);
    okRecord(await receiver.deliver(job('firing', {}, { attempt: 1 }), undefined));
    expect(slack.messages).toHaveLength(1);
  });

  it('a proxy answering 403 or 404 in front of Slack is permanent, saying so; 408 is retried', async () => {
    const { slack, receiver } = await setup();
    for (const status of [403, 404]) {
      slack.fail('chat.postMessage', 1, { status });
      const out = await receiver.deliver(job('firing'), undefined);
      expect(out).toMatchObject({ ok: false, retriable: false, code: `SLACK_HTTP_${status}` });
      expect(out.ok ? '' : out.reason).toMatch(/proxy/);
    }
    slack.fail('chat.postMessage', 1, { status: 408 });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({ ok: false, retriable: true });
  });

  it('HTTP 500 and platform internal_error are retriable, tried once', async () => {
    const { slack, receiver } = await setup();
    slack.fail('chat.postMessage', 1, { status: 500 });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
      ok: false,
      retriable: true,
      code: 'SLACK_HTTP_500',
    });
    slack.fail('chat.postMessage', 1, { ok: false, error: 'internal_error' });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
      ok: false,
      retriable: true,
      code: 'SLACK_INTERNAL_ERROR',
    });
    expect(slack.requests).toHaveLength(2);
  });

  it(
    'a failed thread reply after a successful update is retriable ' + '(the retried job updates again, idempotently)',
    async () => {
      const { slack, receiver } = await setup();
      const rec = okRecord(await receiver.deliver(job('firing'), undefined));
      slack.fail('chat.postMessage', 1, { status: 503 });
      expect(await receiver.deliver(job('resolved'), prior(rec))).toMatchObject({
        ok: false,
        retriable: true,
        code: 'SLACK_HTTP_503',
      });
      okRecord(await receiver.deliver(job('resolved', {}, { attempt: 1 }), prior(rec)));
      expect(slack.replies(rec.ts)).toHaveLength(1);
    },
  );

  it('invalid_auth, channel_not_found and not_in_channel are permanent, with what to do', async () => {
    const wrong = await setup();
    wrong.env.SLACK_BOT_TOKEN = 'xoxb-wrong';
    const auth = await wrong.receiver.deliver(job('firing'), undefined);
    expect(auth).toMatchObject({ ok: false, retriable: false, code: 'SLACK_INVALID_AUTH' });
    expect(!auth.ok && auth.reason).toContain('check the token in environment variable SLACK_BOT_TOKEN');

    const { receiver: nowhere } = await setup({}, 'C0NOWHERE');
    const missing = await nowhere.deliver(job('firing'), undefined);
    expect(missing).toMatchObject({ ok: false, retriable: false, code: 'SLACK_CHANNEL_NOT_FOUND' });
    expect(!missing.ok && missing.reason).toContain('channel C0NOWHERE not found');

    const { slack, receiver } = await setup();
    slack.fail('chat.postMessage', 1, { ok: false, error: 'not_in_channel' });
    const notIn = await receiver.deliver(job('firing'), undefined);
    expect(notIn).toMatchObject({ ok: false, retriable: false, code: 'SLACK_NOT_IN_CHANNEL' });
    expect(!notIn.ok && notIn.reason).toContain(
      'invite the bot with /invite @yourbot or add the chat:write.public scope',
    );
  });

  it(
    'blocks Slack refuses (invalid_blocks) are sent once more as plain text, ' +
      'posted and updated, and the page goes out',
    async () => {
      const { slack, receiver, lines } = await setup();
      slack.fail('chat.postMessage', 1, { ok: false, error: 'invalid_blocks' });
      const rec = okRecord(await receiver.deliver(job('firing'), undefined));
      const posts = slack.requests.filter((q) => q.method === 'chat.postMessage');
      expect(posts.map((q) => q.response && (q.response as { ok: boolean }).ok)).toEqual([false, true]);
      expect(posts[1]!.blocks).toBeUndefined();
      const [msg] = slack.topLevel(CHANNEL);
      expect(msg!.ts).toBe(rec.ts);
      expect(msg!.text).toContain('FIRING: checkout-completion-drop');
      expect(lines.some((l) => /as plain text/.test(String(l.msg)))).toBe(true);

      slack.fail('chat.update', 1, { ok: false, error: 'invalid_blocks' });
      const resolved = await receiver.deliver(job('resolved', { kind: 'resolved', to: 'resolved' }), prior(rec));
      expect(resolved.ok).toBe(true);
      expect(slack.topLevel(CHANNEL)[0]!.text).toMatch(/RESOLVED/);
    },
  );

  it('a missing token secret is permanent SECRET_MISSING, and nothing is sent', async () => {
    const { slack, receiver, env } = await setup();
    delete env.SLACK_BOT_TOKEN;
    const out = await receiver.deliver(job('firing'), undefined);
    expect(out).toMatchObject({ ok: false, retriable: false, code: 'SECRET_MISSING' });
    expect(!out.ok && out.reason).toContain('SLACK_BOT_TOKEN');
    expect(slack.requests).toHaveLength(0);
  });

  it('a rotated token is used from the next delivery on', async () => {
    const { slack, receiver, env } = await setup();
    env.SLACK_BOT_TOKEN = 'xoxb-old';
    expect((await receiver.deliver(job('firing'), undefined)).ok).toBe(false);
    env.SLACK_BOT_TOKEN = slack.token;
    expect((await receiver.deliver(job('firing'), undefined)).ok).toBe(true);
  });

  it('a hanging Slack is a retriable timeout, and the SDK logs through pino, not the console', async () => {
    const consoleSpies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m));
    const { slack, receiver, lines } = await setup({ timeoutMs: 300 });
    slack.fail('chat.postMessage', 1, { hang: true });
    const t0 = Date.now();
    const out = await receiver.deliver(job('firing'), undefined);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(out).toMatchObject({ ok: false, retriable: true, code: 'SLACK_TIMEOUT' });
    expect(!out.ok && out.reason).toContain('300 ms');
    expect(slack.requests[0]!.status).toBeUndefined();
    for (const s of consoleSpies) expect(s).not.toHaveBeenCalled();
    expect(lines.some((l) => l.sdk === '@slack/web-api')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(slack.token);
  });
});

describe('SlackReceiver: a retry after a lost answer does not post twice', () => {
  it(
    'firing: the post took effect but its answer was lost; ' + 'the retry finds it by the job id and returns it',
    async () => {
      const { slack, receiver } = await setup({ timeoutMs: 300 });
      slack.fail('chat.postMessage', 1, { lose: true });
      expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
        ok: false,
        retriable: true,
        code: 'SLACK_TIMEOUT',
      });
      expect(slack.topLevel(CHANNEL)).toHaveLength(1);
      const rec = okRecord(await receiver.deliver(job('firing', {}, { attempt: 1 }), undefined));
      expect(rec).toEqual({ channel: CHANNEL, ts: slack.messages[0]!.ts });
      expect(slack.topLevel(CHANNEL)).toHaveLength(1);
      expect(slack.messages[0]!.metadata).toEqual({
        event_type: 'funnelwatch_delivery',
        event_payload: { job: 't#2/firing/slack' },
      });
      expect(slack.requests.map((r) => r.method)).toEqual(['chat.postMessage', 'conversations.history']);
    },
  );

  it(
    'resolved: the thread reply whose answer was lost is found in the thread; ' +
      'the retry updates again and does not reply twice',
    async () => {
      const { slack, receiver } = await setup({ timeoutMs: 300 });
      const rec = okRecord(await receiver.deliver(job('firing'), undefined));
      // Another job's reply in the same thread must not be taken for this one.
      okRecord(await receiver.deliver(job('reminder', {}, { id: 't#2/reminder/slack@1' }), prior(rec)));
      slack.fail('chat.postMessage', 1, { lose: true });
      expect(await receiver.deliver(job('resolved'), prior(rec))).toMatchObject({
        ok: false,
        retriable: true,
        code: 'SLACK_TIMEOUT',
      });
      okRecord(await receiver.deliver(job('resolved', {}, { attempt: 1 }), prior(rec)));
      expect(slack.replies(rec.ts)).toHaveLength(2);
      expect(slack.replies(rec.ts).map((m) => m.metadata?.event_payload?.job)).toEqual([
        't#2/reminder/slack@1',
        't#2/resolved/slack',
      ]);
      expect(slack.messages[0]!.edits).toBe(2);
    },
  );

  it('a retry whose earlier attempt never reached Slack looks, finds nothing, and posts once', async () => {
    const { slack, receiver } = await setup();
    const other = okRecord(await receiver.deliver(job('firing', {}, { id: 'other/firing/slack' }), undefined));
    slack.fail('chat.postMessage', 1, { status: 500 });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({ ok: false, retriable: true });
    const rec = okRecord(await receiver.deliver(job('firing', {}, { attempt: 1 }), undefined));
    expect(rec.ts).not.toBe(other.ts);
    expect(slack.topLevel(CHANNEL)).toHaveLength(2);
  });

  it('a lookup Slack answers with 429 fails the attempt as retriable and posts nothing', async () => {
    const { slack, receiver } = await setup();
    slack.fail('conversations.history', 1, { status: 429, retryAfter: 2 });
    expect(await receiver.deliver(job('firing', {}, { attempt: 1 }), undefined)).toMatchObject({
      ok: false,
      retriable: true,
      code: 'SLACK_RATE_LIMITED',
      retryAfterMs: 2000,
    });
    expect(slack.messages).toHaveLength(0);
  });

  it('without channels:history the retry posts (a duplicate is possible) and says once what to add', async () => {
    const slack = await startFakeSlack({ historyScope: false });
    open.push(slack);
    const { lines, logger } = capture();
    const receiver = new SlackReceiver({
      def: { name: 'slack', kind: 'slack', channel: CHANNEL, token: { env: 'SLACK_BOT_TOKEN' } },
      apiUrl: slack.url,
      logger,
      env: { SLACK_BOT_TOKEN: slack.token },
      postIntervalMs: 0,
      timeoutMs: 300,
    });
    slack.fail('chat.postMessage', 1, { lose: true });
    expect((await receiver.deliver(job('firing'), undefined)).ok).toBe(false);
    okRecord(await receiver.deliver(job('firing', {}, { attempt: 1 }), undefined));
    okRecord(await receiver.deliver(job('firing', {}, { id: 'next/firing/slack', attempt: 1 }), undefined));
    expect(slack.topLevel(CHANNEL)).toHaveLength(3);
    const warns = lines.filter((l) => l.level === 'warn' && String(l.msg).includes('may post twice'));
    expect(warns).toHaveLength(1);
    expect(String(warns[0]!.msg)).toContain('missing_scope (needs channels:history)');
  });

  it('a retried reply into a thread that is gone goes top-level once, without a scope warning', async () => {
    const { slack, receiver, lines } = await setup({ timeoutMs: 300 });
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    slack.deleteMessage(rec.ts);
    okRecord(await receiver.deliver(job('reminder', {}, { attempt: 1 }), prior(rec)));
    expect(slack.topLevel(CHANNEL)).toHaveLength(1);
    expect(slack.topLevel(CHANNEL)[0]!.metadata?.event_payload?.job).toBe('t#2/reminder/slack');
    expect(lines.some((l) => l.level === 'warn' && String(l.msg).includes('may post twice'))).toBe(false);
  });

  it('a retried reply to a deleted parent is found top-level (Slack un-threaded it), not posted twice', async () => {
    const { slack, receiver } = await setup({ timeoutMs: 300 });
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    slack.deleteMessage(rec.ts);
    // Slack takes the reply, posts it top-level (its parent is gone) and the answer is lost on the way.
    slack.fail('chat.postMessage', 1, { lose: true });
    expect((await receiver.deliver(job('reminder'), prior(rec))).ok).toBe(false);
    expect(slack.topLevel(CHANNEL)).toHaveLength(1);
    okRecord(await receiver.deliver(job('reminder', {}, { attempt: 1 }), prior(rec)));
    expect(slack.topLevel(CHANNEL)).toHaveLength(1);
    expect(slack.messages.filter((m) => m.metadata?.event_payload?.job === 't#2/reminder/slack')).toHaveLength(1);
  });

  it('a channel configured by name is resolved with conversations.list, so a first lost post is found', async () => {
    const { slack, receiver } = await setup({ timeoutMs: 300 }, '#alerts');
    slack.fail('chat.postMessage', 1, { lose: true });
    expect((await receiver.deliver(job('firing'), undefined)).ok).toBe(false);
    okRecord(await receiver.deliver(job('firing', {}, { attempt: 1 }), undefined));
    expect(slack.topLevel(CHANNEL)).toHaveLength(1);
    expect(slack.requests.filter((r) => r.method === 'conversations.list')).toHaveLength(1);
  });

  it('a #name channel id learnt before a restart is kept in Redis: the new receiver finds a lost post', async () => {
    const redis = redisClient();
    const facts = new RedisReceiverFacts(redis, uniquePrefix());
    // Without channels:read (no conversations.list) only a post's answer tells the id.
    const { slack, receiver } = await setup({ timeoutMs: 300, facts }, '#alerts', { listScope: false });
    okRecord(await receiver.deliver(job('firing'), undefined));
    // The restart: a new receiver, nothing in memory, the same Redis.
    const restarted = new SlackReceiver({
      def: { name: 'slack', kind: 'slack', channel: '#alerts', token: { env: 'SLACK_BOT_TOKEN' } },
      apiUrl: slack.url,
      logger: createLogger({ level: 'silent', pretty: false }),
      env: { SLACK_BOT_TOKEN: slack.token },
      postIntervalMs: 0,
      timeoutMs: 300,
      facts,
    });
    slack.fail('chat.postMessage', 1, { lose: true });
    expect((await restarted.deliver(job('firing', {}, { id: 'next/firing/slack' }), undefined)).ok).toBe(false);
    const found = okRecord(
      await restarted.deliver(job('firing', {}, { id: 'next/firing/slack', attempt: 1 }), undefined),
    );
    expect(slack.topLevel(CHANNEL)).toHaveLength(2);
    expect(found).toEqual({ channel: CHANNEL, ts: slack.topLevel(CHANNEL)[1]!.ts });
    expect(slack.requests.filter((r) => r.method === 'conversations.history')).toHaveLength(1);
  });

  it('a channel configured by name is looked up once a post has told its id (without channels:read)', async () => {
    const { slack, receiver, lines } = await setup({ timeoutMs: 300 }, '#alerts', { listScope: false });
    slack.fail('chat.postMessage', 1, { lose: true });
    expect((await receiver.deliver(job('firing'), undefined)).ok).toBe(false);
    // No answered post yet: the id is unknown, so the retry cannot look and posts.
    okRecord(await receiver.deliver(job('firing', {}, { attempt: 1 }), undefined));
    expect(slack.topLevel(CHANNEL)).toHaveLength(2);
    expect(lines.some((l) => l.level === 'warn' && String(l.msg).includes('configured by name'))).toBe(true);
    // Now the id is known (C0ALERTS): a lost post of another job is found.
    slack.fail('chat.postMessage', 1, { lose: true });
    expect((await receiver.deliver(job('firing', {}, { id: 'next/firing/slack' }), undefined)).ok).toBe(false);
    okRecord(await receiver.deliver(job('firing', {}, { id: 'next/firing/slack', attempt: 1 }), undefined));
    expect(slack.topLevel(CHANNEL)).toHaveLength(3);
  });
});

describe('SlackReceiver: limits, pacing, check', () => {
  it('a message cut to fit is delivered and the cut is warn-logged', async () => {
    const { slack, receiver, lines } = await setup();
    const long = 'x'.repeat(5000);
    okRecord(await receiver.deliver(job('firing', { rule: long, description: long }), undefined));
    expect(slack.messages).toHaveLength(1);
    const warn = lines.find((l) => l.msg === 'slack message truncated to fit Slack limits');
    expect(warn).toMatchObject({
      level: 'warn',
      event: 'firing',
      truncated: expect.arrayContaining(['header', 'summary.text', 'text']),
    });
  });

  it('posts to one channel are spaced about a second apart', async () => {
    const { slack, receiver } = await setup({ postIntervalMs: undefined });
    const rec = okRecord(await receiver.deliver(job('firing'), undefined));
    await receiver.deliver(job('reminder'), prior(rec));
    await receiver.deliver(job('reminder'), prior(rec));
    const [a, b, c] = slack.requests.map((r) => r.time);
    expect(b! - a!).toBeGreaterThanOrEqual(950);
    expect(c! - b!).toBeGreaterThanOrEqual(950);
  });

  it('probe() is auth.test: ok while Slack takes the token, retriable while Slack answers 5xx', async () => {
    const { slack, receiver } = await setup();
    expect(await receiver.probe()).toEqual({ ok: true });
    slack.fail('auth.test', 1, { status: 503 });
    expect(await receiver.probe()).toMatchObject({ ok: false, retriable: true, code: 'SLACK_HTTP_503' });
    expect(slack.messages).toHaveLength(0);
  });

  it('check() reports an unreadable secret and a rejected token', async () => {
    const { slack, receiver, env } = await setup();
    expect(await receiver.check()).toEqual([]);
    env.SLACK_BOT_TOKEN = 'xoxb-wrong';
    expect(await receiver.check()).toEqual([expect.stringContaining('invalid_auth')]);
    delete env.SLACK_BOT_TOKEN;
    expect(await receiver.check()).toEqual([
      expect.stringContaining('environment variable SLACK_BOT_TOKEN is not set'),
    ]);
    expect(slack.requests.map((r) => r.method)).toEqual(['auth.test', 'auth.test']);
  });
});
