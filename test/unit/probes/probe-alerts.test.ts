import { describe, expect, it } from 'vitest';
import { checkJourneySources, type Journey } from '../../../src/probes/load.js';
import { judgeProbe, probeRule } from '../../../src/probes/probe-alerts.js';
import { stepAlert } from '../../../src/engine/alert-state.js';
import type { StoredRun } from '../../../src/probes/run-store.js';
import { formatProblem } from '../../../src/rules/problem.js';

const journeyText = (alert = '', funnel = 'signup') => `name: signup
funnel: ${funnel}
every: 1m
base_url: { production: "http://127.0.0.1:1" }
${alert}steps:
  - name: create
    event: signup_started
    url: /signup
  - name: confirm
    event: email_verified
    url: /me
`;

function load(text: string, extra: object = {}) {
  return checkJourneySources([{ path: 'probes/j.yaml', text }], { environment: 'production', ...extra });
}

function journey(alert = ''): Journey {
  const r = load(journeyText(alert));
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.set.journeys[0]!;
}

const T = 1_800_000_000_000;
const ok = (i: number, latency = 100): StoredRun => ({
  runId: `r${i}`,
  at: T - i * 60_000,
  ok: true,
  latencies: { create: 50, confirm: latency },
});
const failed = (i: number): StoredRun => ({
  runId: `r${i}`,
  at: T - i * 60_000,
  ok: false,
  latencies: { create: 50, confirm: 30 },
  step: 'confirm',
  reason: 'status',
  status: 500,
  message: 'confirm: GET /me answered 500, expected 2xx',
  excerpt: '{"error":"db down"}',
});

describe('probe alert rule', () => {
  it('defaults to 2 of the last 3 runs, critical, for: 0 and resolved on the first good look', () => {
    const j = journey();
    expect(j.alert).toEqual({ failures: 2, of: 3, severity: 'critical', notify: [], enabled: true });
    expect(probeRule(j)).toMatchObject({ name: 'probe:signup', funnel: 'signup', forMs: 0, resolveAfterMs: 0 });
  });

  it('breaches on K of the last N failed (newest first), naming the failed step and the answer', () => {
    const j = journey();
    const breach = judgeProbe(j, 'eu', [failed(0), ok(1), failed(2), ok(3)], T);
    expect(breach.condition).toBe('breach');
    expect(breach.evidence!.reason).toBe(
      'signup failed 2 of its last 3 runs at eu; latest failure (run r0) step confirm: ' +
        'confirm: GET /me answered 500, expected 2xx; answer: {"error":"db down"}',
    );
    expect(breach.evidence!.onset).toBe(T - 2 * 60_000);
    // One failure of three: ok (the older failure is out of the window).
    expect(judgeProbe(j, 'eu', [failed(0), ok(1), ok(2), failed(3)], T).condition).toBe('ok');
  });

  it('breaches when a step was slow in each of the last M runs, not when one was fast', () => {
    const j = journey('alert:\n  slow: { step: confirm, over: 1s, runs: 2 }\n');
    expect(judgeProbe(j, 'eu', [ok(0, 1900), ok(1, 1800), ok(2, 10)], T)).toMatchObject({
      condition: 'breach',
      evidence: { reason: 'signup: step confirm took over 1000 ms in each of its last 2 runs at eu (1900, 1800 ms)' },
    });
    expect(judgeProbe(j, 'eu', [ok(0, 1900), ok(1, 10), ok(2, 1800)], T).condition).toBe('ok');
  });

  it('is insufficient with no runs, or runs too old to speak of now', () => {
    const j = journey();
    expect(judgeProbe(j, 'eu', [], T).condition).toBe('insufficient');
    expect(judgeProbe(j, 'eu', [failed(0), failed(1)], T + 60 * 60_000)).toMatchObject({
      condition: 'insufficient',
      evidence: { reason: expect.stringContaining('has not run at eu since') },
    });
  });

  it('a location gone silent keeps its firing alert firing and says the runner went silent', () => {
    const j = journey();
    const rule = probeRule(j);
    const seg = { dimension: 'location', value: 'eu' };
    const fired = stepAlert(undefined, rule.name, seg, judgeProbe(j, 'eu', [failed(0), failed(1)], T), T, rule);
    expect(fired.next.status).toBe('firing');
    const later = T + 60 * 60_000;
    const silent = stepAlert(
      fired.next,
      rule.name,
      seg,
      judgeProbe(j, 'eu', [failed(0), failed(1)], later),
      later,
      rule,
    );
    expect(silent.transition).toBeNull();
    expect(silent.next.status).toBe('firing');
    expect(silent.next.evidence?.reason).toMatch(
      /^signup has not run at eu since \S+ \(over 5 intervals\): its runner there went silent; its last 2 runs failed 2, and an alert firing there stays firing until a run passes$/,
    );
  });

  it('alert: settings are checked path:line:col against the steps, and the funnels and receivers when known', () => {
    const problems = (text: string, extra: object = {}) => {
      const r = load(text, extra);
      return r.ok ? [] : r.problems.map(formatProblem);
    };
    expect(problems(journeyText('alert:\n  failures: 4\n  of: 3\n'))).toEqual([
      'probes/j.yaml:6:13: failures (4) must not exceed of (3)',
    ]);
    expect(problems(journeyText('alert:\n  slow: { step: pay, over: 1s }\n'))).toEqual([
      'probes/j.yaml:6:17: the journey has no step "pay" (steps: create, confirm)',
    ]);
    const known = {
      funnels: [{ name: 'signup', steps: [{ name: 'started', event: 'signup_started' }] }],
      receivers: ['pager'],
    };
    expect(problems(journeyText('alert:\n  notify: [pager, slack-x]\n'), known)).toEqual([
      'probes/j.yaml:6:19: unknown receiver "slack-x" (the rule files define: pager)',
      'probes/j.yaml:12:12: funnel "signup" has no step with event "email_verified" ' +
        '(its steps: started = signup_started)',
    ]);
    expect(problems(journeyText('', 'checkout'), known)).toEqual([
      'probes/j.yaml:2:9: unknown funnel "checkout" (the rule files define: signup)',
    ]);
    // Without the rule files (funnelwatch probe --check on its own), funnels and receivers are not checked.
    expect(problems(journeyText('alert:\n  notify: [slack-x]\n', 'checkout'))).toEqual([]);
  });
});
