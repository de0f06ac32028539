/**
 * The fake Slack and fake PagerDuty behave like the real services on their own, without a test scripting them
 * (the delivery audit: fakes that never rate-limit, reject replies to deleted parents and apply events
 * synchronously let real bugs pass): Slack's ~1 post a second per channel with a small burst and PagerDuty's ~120
 * events a minute per routing key, each answered 429 with Retry-After and a pause the fake keeps and checks; Slack
 * posting a reply to a deleted parent top-level with ok: true; PagerDuty answering 202 before the event applies.
 * Raw HTTP, so nothing of ours sits between the test and the fakes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { eventually } from '../../support/env.js';
import { startFakePagerDuty } from '../../support/fake-pagerduty.js';
import { startFakeSlack, type FakeSlack } from '../../support/fake-slack.js';

const KEY = 'e93facc04764012d7bfb002500d5d1a6';
const OTHER_KEY = '0123456789abcdef0123456789abcdef';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function slackCall(slack: FakeSlack, method: string, form: Record<string, string>) {
  const res = await request(`${slack.url}${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${slack.token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return {
    status: res.statusCode,
    retryAfter: res.headers['retry-after'],
    body: (await res.body.json()) as { ok: boolean; error?: string; ts?: string; message?: { thread_ts?: string } },
  };
}

async function pdEvent(url: string, routingKey: string, i: number) {
  const res = await request(`${url}/v2/enqueue`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key: `k${i}`,
      payload: { summary: `event ${i}`, source: 'test', severity: 'critical' },
    }),
  });
  await res.body.text();
  return { status: res.statusCode, retryAfter: res.headers['retry-after'] };
}

describe('fake Slack on its own', () => {
  it('rate-limits posts per channel past a small burst: 429, Retry-After, a kept pause', async () => {
    const slack = await startFakeSlack({ channels: { C0ALERTS: 'alerts', C0OTHER: 'other' } });
    closers.push(() => slack.close());
    const answers = [];
    for (let i = 0; i < 4; i++)
      answers.push(await slackCall(slack, 'chat.postMessage', { channel: 'C0ALERTS', text: `m${i}` }));
    // The burst of 3 goes through; the fourth in the same second is refused.
    expect(answers.slice(0, 3).every((a) => a.status === 200 && a.body.ok)).toBe(true);
    expect(answers[3]).toMatchObject({ status: 429, body: { ok: false, error: 'ratelimited' } });
    expect(Number(answers[3]!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(slack.pauses).toHaveLength(1);
    const pause = slack.pauses[0]!;
    expect(pause.channel).toBe('C0ALERTS');
    expect(pause.until - pause.from).toBe(Number(answers[3]!.retryAfter) * 1000);
    expect(slack.calledWhilePaused).toHaveLength(0);

    // Another channel has its own allowance.
    expect((await slackCall(slack, 'chat.postMessage', { channel: 'C0OTHER', text: 'x' })).body.ok).toBe(true);
    // A post that ignores the Retry-After is refused again and recorded (by #name too: the same channel).
    const ignored = await slackCall(slack, 'chat.postMessage', { channel: '#alerts', text: 'too soon' });
    if (Date.now() < pause.until) {
      expect(ignored.status).toBe(429);
      expect(slack.calledWhilePaused.map((r) => r.form.text)).toEqual(['too soon']);
    }
    expect(slack.topLevel('C0ALERTS')).toHaveLength(3);

    // Once the pause is over the channel takes a post again.
    await eventually(() => (Date.now() >= pause.until ? true : undefined), 10_000, 'the pause to end');
    const after = await slackCall(slack, 'chat.postMessage', { channel: 'C0ALERTS', text: 'later' });
    expect(after.body.ok).toBe(true);
    expect(slack.topLevel('C0ALERTS').map((m) => m.text)).toContain('later');
  });

  it('posts a reply whose parent was deleted top-level, answering ok: true without thread_ts', async () => {
    const slack = await startFakeSlack({ rateLimit: false });
    closers.push(() => slack.close());
    const parent = await slackCall(slack, 'chat.postMessage', { channel: 'C0ALERTS', text: 'parent' });
    const threaded = await slackCall(slack, 'chat.postMessage', {
      channel: 'C0ALERTS',
      text: 'reply',
      thread_ts: parent.body.ts!,
    });
    expect(threaded.body.message?.thread_ts).toBe(parent.body.ts);
    slack.deleteMessage(parent.body.ts!);
    const orphan = await slackCall(slack, 'chat.postMessage', {
      channel: 'C0ALERTS',
      text: 'orphan',
      thread_ts: parent.body.ts!,
    });
    expect(orphan.status).toBe(200);
    expect(orphan.body.ok).toBe(true);
    expect(orphan.body.message?.thread_ts).toBeUndefined();
    expect(slack.topLevel('C0ALERTS').map((m) => m.text)).toEqual(['orphan']);
    // A thread_ts that never existed is still an error.
    const unknown = await slackCall(slack, 'chat.postMessage', {
      channel: 'C0ALERTS',
      text: 'x',
      thread_ts: '1.000001',
    });
    expect(unknown.body).toMatchObject({ ok: false, error: 'cannot_reply_to_message' });
  });
});

describe('fake PagerDuty on its own', () => {
  it('answers 429 with Retry-After past 120 events a minute per routing key and keeps the pause', async () => {
    const pd = await startFakePagerDuty({ processingDelayMs: 0 });
    closers.push(() => pd.close());
    const answers = [];
    // 120 at once go through; the bucket refills at 2 a second, so keep sending until it runs dry (a slow machine
    // may earn a few more before that).
    for (let i = 0; i < 240 && answers.at(-1)?.status !== 429; i++) answers.push(await pdEvent(pd.url, KEY, i));
    expect(answers.slice(0, 120).every((a) => a.status === 202)).toBe(true);
    const refused = answers.at(-1)!;
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(pd.pauses).toEqual([expect.objectContaining({ routingKey: KEY })]);
    expect(pd.incidents).toHaveLength(answers.length - 1);
    // Another routing key is not throttled; the throttled one, called inside its pause, is refused and recorded.
    expect((await pdEvent(pd.url, OTHER_KEY, 0)).status).toBe(202);
    const pause = pd.pauses[0]!;
    const ignored = await pdEvent(pd.url, KEY, 999);
    if (Date.now() < pause.until) {
      expect(ignored.status).toBe(429);
      expect(pd.calledWhilePaused).toHaveLength(1);
    }
    await eventually(() => (Date.now() >= pause.until ? true : undefined), 10_000, 'the pause to end');
    expect((await pdEvent(pd.url, KEY, 1000)).status).toBe(202);
    expect(pd.incident('k1000', KEY)).toBeDefined();
  });

  it('accepts with 202 at once and applies the event shortly after (asynchronous processing)', async () => {
    const pd = await startFakePagerDuty({ processingDelayMs: 1_000 });
    closers.push(() => pd.close());
    expect((await pdEvent(pd.url, KEY, 1)).status).toBe(202);
    // The answer came before the incident exists (a 1 s processing delay against a loopback round trip).
    expect(pd.incidents).toHaveLength(0);
    await pd.settled();
    expect(pd.incidents).toMatchObject([{ dedupKey: 'k1', status: 'open' }]);
    expect(pd.events.map((e) => e.effect)).toEqual(['opened']);
  });
});
